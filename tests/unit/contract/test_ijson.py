"""Strict JSON for every body and token: what Python's json lets through, we refuse."""

from __future__ import annotations

import json

import pytest

from contract import ijson
from contract.errors import BadSignature, InvalidRequest


@pytest.mark.parametrize(
    "text",
    [
        '{"sub":"1","sub":"2"}',  # a second key smuggles a claim past one reader
        '{"a":{"b":1,"b":1}}',  # also nested, also with equal values
        "[NaN]",
        "[Infinity]",
        "[-Infinity]",
        "[1e999]",
        "[-1e999]",  # overflows to infinity
        '{"a":"\\u0000"}',
        '{"a":"x\x00"}',  # NUL, escaped or raw: PostgreSQL cannot store it
        "\ufeff{}",  # a byte order mark is not JSON
        "{",
        "",
        "[1,]",
    ],
)
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

    assert ijson.loads(text) == json.loads(text)
    assert ijson.loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"kid":"\\ud800"}',  # a lone high surrogate, escaped
        '{"kid":"x\\udfff"}',  # a lone low surrogate
        '{"\\udc00":1}',  # in a member name
        '[["\\ude00\\ud83d"]]',  # a pair in the wrong order is two lone halves
        '{"a":"\ud800"}',  # a raw lone surrogate in a str
    ],
)
def test_a_lone_surrogate_is_refused_wherever_it_hides(text: str) -> None:
    # RFC 7493 section 2.1: the next reader could not write it as UTF-8
    with pytest.raises(InvalidRequest, match="surrogaat"):
        ijson.loads(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a":"\\ud83d\\ude00"}', {"a": "\U0001f600"}),  # an escaped pair is one character
        ('{"a":"\\\\ud800"}', {"a": "\\ud800"}),  # a backslash, then the letters
        ('{"a":"\\\\u0000"}', {"a": "\\u0000"}),  # likewise: no NUL here
    ],
)
def test_what_only_looks_like_a_surrogate_or_nul_passes(text: str, value: object) -> None:
    assert ijson.loads(text) == value


def test_an_escaped_nul_behind_an_escaped_backslash_is_still_a_nul() -> None:
    with pytest.raises(InvalidRequest, match="NUL"):
        ijson.loads('{"a":"\\\\\\u0000"}')


@pytest.mark.parametrize("text", ['{"seq":1.0}', '{"seq":1e3}', '{"seq":NaN}', '{"s":1,"s":2}'])
def test_integers_only_refuses_every_number_that_is_not_an_integer(text: str) -> None:
    with pytest.raises(InvalidRequest):
        ijson.loads(text, integers_only=True)
    assert ijson.loads('{"seq":12,"n":-3}', integers_only=True) == {"seq": 12, "n": -3}
