"""Strict JSON for every body and token: what Python's json lets through, we refuse."""

from __future__ import annotations

import pytest

from contract import ijson
from contract.errors import BadSignature, InvalidRequest


@pytest.mark.parametrize("text", [
    '{"sub":"1","sub":"2"}',             # a second key smuggles a claim past one reader
    '{"a":{"b":1,"b":1}}',               # also nested, also with equal values
    "[NaN]", "[Infinity]", "[-Infinity]",
    "[1e999]", "[-1e999]",               # overflows to infinity
    '{"a":"\\u0000"}', '{"a":"x\x00"}',  # NUL, escaped or raw: PostgreSQL cannot store it
    "\ufeff{}",                          # a byte order mark is not JSON
    "{", "", "[1,]",
])
def test_what_is_not_i_json_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequest):
        ijson.loads(text)


def test_bytes_that_are_not_utf8_are_refused_with_the_callers_error() -> None:
    with pytest.raises(BadSignature):
        ijson.loads(b'{"a":"\xff"}', error=BadSignature)
    with pytest.raises(BadSignature):
        ijson.loads('{"a":1,"a":1}', error=BadSignature)


def test_ordinary_json_parses_as_python_json_would() -> None:
    text = '{"a":[1.5,-2,{"b":null}],"c":true,"d":"é\\u2028","e":1e300}'
    import json

    assert ijson.loads(text) == json.loads(text)
    assert ijson.loads(text.encode()) == json.loads(text)
