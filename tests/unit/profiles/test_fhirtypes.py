"""A summary's FHIR datatypes are checked by path, at least as strictly as fhir.resources would.

The table in ``profiles.fhirtypes`` is derived here from fhir.resources' own R4B models, so a
profile path whose type or cardinality FHIR sees differently fails this test, not a partner.
"""

from __future__ import annotations

import copy
import hashlib
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from joserfc.jwk import ECKey
from profiles_builders import HOLDER, MOTHER_BSN, NOW, mother_records
from pydantic import ValidationError

from contract.errors import NotShareable
from gateway.trust import signing
from profiles import build_summary, catalog, check_summary
from profiles.fhirtypes import BUNDLE_TYPES, REQUIRED, resource_types

ALL = ["signals", "safety-plan", "care-team", "parenting", "care-status"]


def _field(model: type, name: str) -> tuple[str, bool, type | None]:
    """(FHIR type name, required, model class of a complex element) of ``model.name``."""
    info = model.model_fields[name]
    required = info.is_required() or bool((info.json_schema_extra or {}).get("element_required"))
    annotation: Any = info.annotation
    while typing.get_origin(annotation) in (typing.Union, types.UnionType, list):  # Optional[List[...]]
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is typing.Annotated:
        kind = type(typing.get_args(annotation)[-1]).__name__
        return kind[0].lower() + kind[1:], required, None
    name = annotation.__name__.removesuffix("Type")
    return name, required, get_fhir_model_class(name)


def _walk_model(model: type, path: str) -> tuple[str, list[tuple[str, type]]]:
    """The FHIR type at ``path`` and every (object path, model) passed on the way."""
    seen = [("", model)]
    prefix = ""
    for part in path.split("."):
        name = part.removesuffix("[]")
        kind, _required, sub = _field(model, name)
        prefix = f"{prefix}.{part}" if prefix else part
        if sub is not None:
            model = sub
            seen.append((prefix, model))
    return kind, seen


def _required(model: type) -> set[str]:
    return {
        name
        for name, info in model.model_fields.items()
        if info.is_required() or (info.json_schema_extra or {}).get("element_required")
    }


@pytest.mark.parametrize(
    "profile", sorted(catalog.load_profiles().values(), key=lambda p: p.category), ids=lambda p: p.category
)
def test_every_profile_path_has_the_type_fhir_r4_gives_it(profile: catalog.Profile) -> None:
    model = get_fhir_model_class(profile.resource_type)
    objects: dict[str, type] = {}
    for path, kind in resource_types(profile).items():
        fhir_kind, seen = _walk_model(model, path)
        assert kind == fhir_kind, path
        objects.update(seen)
    for where, sub in objects.items():  # what FHIR requires in every object a summary can hold
        assert _required(sub) == set(REQUIRED[profile.resource_type].get(where, ())), (profile.category, where)


def test_every_bundle_path_has_the_type_fhir_r4_gives_it() -> None:
    objects: dict[str, type] = {}
    for path, kind in BUNDLE_TYPES.items():
        fhir_kind, seen = _walk_model(Bundle, path)
        assert kind == fhir_kind, path
        objects.update(seen)
    for where, sub in objects.items():
        if where not in ("entry[]",):  # entry.resource is the profiles' part
            assert _required(sub) == set(REQUIRED["Bundle"].get(where, ())), where


@pytest.fixture
def signed() -> dict[str, Any]:
    """A summary as a requester receives it: built, then signed by the holder."""
    bundle = build_summary(
        mother_records(),
        ALL,
        holder_org=HOLDER,
        subject_bsn=MOTHER_BSN,
        exchange_id="x-1",
        request_hash=hashlib.sha256(b"r").hexdigest(),
        now=NOW,
    )
    return signing.sign_bundle(bundle, ECKey.generate_key("P-256"), kid="k1", alg="ES256", signer_ref=HOLDER, now=NOW)


def test_a_signed_summary_passes_both_checks(signed: dict[str, Any]) -> None:
    check_summary(signed)
    Bundle.model_validate(signed)


def _leaves(value: Any, trail: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*trail, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*trail, i))
    else:
        yield trail


def _set(bundle: dict[str, Any], trail: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    target = out
    for step in trail[:-1]:
        target = target[step]
    target[trail[-1]] = value
    return out


BAD_VALUES = [5, True, None, "", "   ", "twee woorden", "2025-02-30", "2025-03-14T25:00:00Z", ["a"], {"a": "b"}]


def test_whatever_fhir_r4_refuses_in_a_received_summary_is_refused_here(signed: dict[str, Any]) -> None:
    """Every leaf of a real summary, replaced by values of the wrong shape one at a time: the
    guard refuses what FHIR refuses, and whatever it refuses it refuses as not-shareable
    (any other error would escape the requester's audited refusal)."""
    leaves = [t for t in _leaves(signed) if t != ("resourceType",) and t[-1] != "resourceType"]
    assert len(leaves) > 40
    compared = 0
    for trail in leaves:
        for value in BAD_VALUES:
            bad = _set(signed, trail, value)
            try:
                check_summary(bad)
                ours = True
            except NotShareable:
                ours = False
            try:
                Bundle.model_validate(bad)
            except (ValidationError, ValueError, TypeError):
                compared += 1
                assert not ours, (trail, value)
    assert compared > 100


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("entry", 0, "resource", "note", 0, "text"), 12),  # a number where FHIR wants text
        (("entry", 0, "resource", "effectiveDateTime"), "2025-02-30"),  # no such day
        (("entry", 0, "resource", "id"), "een id met spaties"),
        (("signature", "when"), "gisteren"),
        (("timestamp",), "2025-03-14"),  # an instant has a time and a zone
    ],
)
def test_a_holder_that_sends_a_wrong_datatype_is_not_believed(
    signed: dict[str, Any], where: tuple[Any, ...], value: Any
) -> None:
    target = signed
    for step in where[:-1]:
        target = target[step]
    assert where[-1] in target or where[-1] == "note"
    with pytest.raises(NotShareable):
        check_summary(_set(signed, where, value))


def test_a_care_plan_activity_without_its_status_is_refused(signed: dict[str, Any]) -> None:
    plan = next(e["resource"] for e in signed["entry"] if e["resource"]["resourceType"] == "CarePlan")
    assert plan["activity"][0]["detail"]["status"]
    del plan["activity"][0]["detail"]["status"]
    with pytest.raises(NotShareable, match="Verplicht"):
        check_summary(signed)


def test_an_observation_without_its_code_is_refused(signed: dict[str, Any]) -> None:
    observation = next(e["resource"] for e in signed["entry"] if e["resource"]["resourceType"] == "Observation")
    del observation["code"]
    with pytest.raises(NotShareable, match="Verplicht"):
        check_summary(signed)


def test_text_hidden_in_the_unsigned_signature_element_is_refused(signed: dict[str, Any]) -> None:
    """``signature.who`` is not signed: a holder may not carry free text there either."""
    signed["signature"]["who"]["display"] = "Moeder, depressie"
    with pytest.raises(NotShareable):
        check_summary(signed)
