"""The example node.toml files in config/ load with the real loader and name every key.

So the examples and the reference (config/README.md) cannot drift from gateway/config.py:
a key added to a config dataclass fails here until it is documented.
"""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
import typing
from pathlib import Path

import pytest

from gateway import config

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config"
EXAMPLES = ["youth-care.toml", "adult-mental-health.toml"]
SECRET_STORE = "postgresql+psycopg://ggz_noord:s3cret@db.example:5432/ggz_noord"


def every_key() -> list[tuple[str, str]]:
    """Return (section, key) for every field of every section dataclass of NodeConfig."""
    hints = typing.get_type_hints(config.NodeConfig)
    return [
        (section.name, key.name)
        for section in dataclasses.fields(config.NodeConfig)
        if section.name != "home" and dataclasses.is_dataclass(hints[section.name])  # not [sources.NAME]
        for key in dataclasses.fields(hints[section.name])
    ]


def load_example(name: str, tmp_path: Path, env: dict[str, str]) -> config.NodeConfig:
    home = tmp_path / "node"
    home.mkdir()
    shutil.copy(CONFIG_DIR / name, home / "node.toml")
    return config.load(home, env=env)


@pytest.mark.parametrize("name", EXAMPLES)
def test_an_example_loads_as_a_node_toml(name: str, tmp_path: Path) -> None:
    cfg = load_example(name, tmp_path, env={})

    assert cfg.node.org_id in ("jeugdteam-west", "ggz-noord")


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_store_url_with_its_password_comes_from_the_environment(name: str, tmp_path: Path) -> None:
    cfg = load_example(name, tmp_path, env={"GATEWAY_STORE_URL": SECRET_STORE})

    assert cfg.store.url == SECRET_STORE


def test_the_mental_health_example_keeps_its_password_out_of_the_file() -> None:
    raw = tomllib.loads((CONFIG_DIR / "adult-mental-health.toml").read_text("utf-8"))

    assert raw["store"]["url"].startswith("postgresql+psycopg://ggz_noord@")


@pytest.mark.parametrize("name", EXAMPLES)
def test_an_example_names_every_key(name: str) -> None:
    raw = tomllib.loads((CONFIG_DIR / name).read_text("utf-8"))

    missing = [f"[{s}] {k}" for s, k in every_key() if k not in raw.get(s, {})]
    assert not missing, f"{name} lacks {missing}"


def test_the_reference_names_every_environment_variable() -> None:
    reference = (CONFIG_DIR / "README.md").read_text("utf-8")

    missing = [
        f"GATEWAY_{s.upper()}_{k.upper()}"
        for s, k in every_key()
        if f"GATEWAY_{s.upper()}_{k.upper()}" not in reference
    ]
    assert not missing, f"config/README.md lacks {missing}"
