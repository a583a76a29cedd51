"""The built wheel ships what a node needs at run time (issue 14; STYLE habit 18).

An operator installs the wheel, not the source tree: the Alembic migrations, the CodeSystems
and profiles, the page templates and the stylesheet must be in it, and every module of the
seven top-level packages. A package-data pattern in ``pyproject.toml`` that matches nothing
is a mistake this test names.

The wheel is built from a copy of the files a build reads (``pyproject.toml``, the README,
the packages), so setuptools' ``build/`` and ``*.egg-info`` never land in the working tree,
and no stale ``build/lib`` can put a deleted file into the wheel and hide a missing one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory

from adapters.store import alembic_config

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contract", "consent", "profiles", "audit", "adapters", "ehr", "gateway")
# beside the code for the developers who read it; nothing loads them at run time
NOT_SHIPPED = {"README.md"}


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def _source_files(suffix_py: bool) -> list[str]:
    """The files under the packages, as wheel paths: the modules, or the data beside them."""
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            if (path.suffix == ".py") == suffix_py and path.name not in NOT_SHIPPED:
                found.append(path.relative_to(ROOT).as_posix())
    return sorted(found)


@dataclass(frozen=True)
class Installed:
    """The wheel installed into a fresh virtual environment, outside the source tree."""

    python: Path
    scripts: Path
    site_packages: Path
    elsewhere: Path  # a working directory with no source in it

    def run(self, *argv: str | Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        return subprocess.run(
            [str(a) for a in argv],
            cwd=self.elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # no build isolation: the test extra brings the build backend, so this needs no index
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(work / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, f"the wheel did not build:\n{built.stdout}\n{built.stderr}"
    (path,) = (work / "dist").glob("*.whl")
    return path


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    home = tmp_path_factory.mktemp("installed")
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
    )
    # the project's dependencies come from this environment's site-packages, seen through a
    # .pth line: a directory added that way has its own .pth files (the editable install's
    # finder among them) left unread, so the source tree stays out of sight
    (site_packages / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", "utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"the wheel did not install:\n{done.stdout}\n{done.stderr}"
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    yield Installed(python, venv / "bin", site_packages, elsewhere)


def test_every_package_data_pattern_matches_files_that_ship(names: set[str]) -> None:
    data = _pyproject()["tool"]["setuptools"]["package-data"]
    assert data, "pyproject.toml lists no package data"
    for package, patterns in data.items():
        base = ROOT.joinpath(*package.split("."))
        for pattern in patterns:
            matched = sorted(p.relative_to(ROOT).as_posix() for p in base.glob(pattern) if p.is_file())
            assert matched, f"package data {package!r}: {pattern!r} matches no file"
            missing = [m for m in matched if m not in names]
            assert not missing, f"package data {package!r}: {pattern!r} matches files the wheel lacks: {missing}"


def test_every_top_level_package_and_module_ships(names: set[str]) -> None:
    found = _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {pattern.rstrip("*") for pattern in found} == set(PACKAGES)
    assert {f"{p}/__init__.py" for p in PACKAGES} <= names
    missing = [m for m in _source_files(suffix_py=True) if m not in names]
    assert not missing, f"modules the wheel lacks (a folder without __init__.py and no package data?): {missing}"


def test_every_data_file_beside_the_code_ships(names: set[str]) -> None:
    missing = [f for f in _source_files(suffix_py=False) if f not in names]
    assert not missing, f"data files the wheel lacks (add them to package-data in pyproject.toml): {missing}"


@pytest.mark.parametrize(
    ("what", "folder", "suffix"),
    [
        ("Alembic migrations", "adapters/store/migrations/versions", ".py"),
        ("CodeSystems", "profiles/codesystems", ".json"),
        ("page templates", "gateway/web/templates/web", ".html"),
        ("static files", "gateway/web/static", ".css"),
    ],
)
def test_what_a_node_loads_at_run_time_ships(names: set[str], what: str, folder: str, suffix: str) -> None:
    in_source = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / folder).glob(f"*{suffix}"))
    assert in_source, f"no {what} in {folder}"
    assert [n for n in in_source if n not in names] == [], f"{what} missing from the wheel"


def test_the_installed_gateway_command_runs_outside_the_source_tree(installed: Installed) -> None:
    result = installed.run(installed.scripts / "gateway", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: gateway" in result.stdout


def test_the_installed_packages_come_from_the_wheel_not_the_source(installed: Installed) -> None:
    probe = "import importlib, json; print(json.dumps({m: importlib.import_module(m).__file__ for m in %r}))"
    result = installed.run(installed.python, "-c", probe % (PACKAGES,))
    assert result.returncode == 0, result.stderr
    where = {m: Path(f).resolve() for m, f in json.loads(result.stdout).items()}
    assert all(path.is_relative_to(installed.site_packages.resolve()) for path in where.values()), where


def test_the_installed_node_migrates_a_store_and_reads_its_data(installed: Installed) -> None:

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    codesystems = len(list((ROOT / "profiles" / "codesystems").glob("*.json")))
    templates = sorted(p.name for p in (ROOT / "gateway" / "web" / "templates" / "web").glob("*.html"))
    probe = f"""
import json, pathlib
from importlib.resources import files
from jinja2 import Environment, PackageLoader
from sqlalchemy import create_engine
from adapters.store import migrate, revision_of
from profiles import catalog

engine = create_engine("sqlite:///" + str(pathlib.Path("store.sqlite").resolve()))
migrate(engine)
pages = Environment(loader=PackageLoader("gateway.web", "templates"))
for name in {templates!r}:
    source, _file, _fresh = pages.loader.get_source(pages, "web/" + name)
    pages.parse(source)  # found where Flask's blueprint looks, and well-formed (filters come with the app)
print(json.dumps({{"revision": revision_of(engine), "codesystems": len(catalog.codesystem_urls()),
                  "profiles": len(catalog.load_profiles()),
                  "css": files("gateway.web").joinpath("static/gateway.css").is_file()}}))
"""
    result = installed.run(installed.python, "-c", probe)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["revision"] == head
    assert seen["codesystems"] == codesystems
    assert seen["profiles"] > 0
    assert seen["css"] is True
