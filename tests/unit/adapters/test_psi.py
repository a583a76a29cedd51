"""The PSI wrapper (adapters/psi.py): what a partner sends is checked before the C++ core sees it."""

from __future__ import annotations

import private_set_intersection.python as raw
import pytest

from adapters import psi
from contract.errors import InvalidRequest, PartnerUnavailable

FINDABLE = ["123456782", "111222333", "999999990"]


def a_server(label: str = "epoch-1") -> psi.Server:
    return psi.Server(psi.derive_key(b"m" * 32, label))


def test_every_worker_derives_the_same_key_and_each_epoch_another() -> None:
    assert psi.derive_key(b"m" * 32, "e1") == psi.derive_key(b"m" * 32, "e1")
    assert psi.derive_key(b"m" * 32, "e1") != psi.derive_key(b"m" * 32, "e2")
    assert 1 <= int.from_bytes(psi.derive_key(b"m" * 32, "e1"), "big") < psi.P256_ORDER


def test_a_search_finds_exactly_the_findable_and_a_stale_setup_finds_nobody() -> None:
    server = a_server()
    setup = server.setup(FINDABLE, 8).data
    query = psi.Query(["000000000", "111222333", "555555555"])
    answer, count = server.process(query.request, 8)
    assert count == 3 and query.matches(setup, answer) == ["111222333"]
    later = a_server("epoch-2")  # a new epoch: the old setup cannot be used with its answers
    answer2, _ = later.process(query.request, 8)
    assert query.matches(setup, answer2) == []


def test_two_searches_for_the_same_person_look_unrelated() -> None:
    a, b = psi.Query(["111222333"]), psi.Query(["111222333"])
    assert a.request != b.request


def _request(elements: list[bytes], reveal: bool = True) -> bytes:
    req = raw.Request()
    req.reveal_intersection = reveal
    req.encrypted_elements.extend(elements)
    return req.SerializeToString()


GOOD_POINT = b"\x02" + b"\x11" * 32


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\x00garbage",
        _request([]),
        _request([GOOD_POINT] * 9),
        _request([b"\x04" + b"\x11" * 32]),
        _request([b"\x02" + b"\x11" * 10]),
        _request([GOOD_POINT], reveal=False),
        _request([GOOD_POINT]) + b"\x1a\x00",  # a field the message does not have
    ],
    ids=["not protobuf", "empty", "too many", "uncompressed point", "short point", "size only", "unknown field"],
)
def test_a_malformed_request_is_refused_before_the_core_sees_it(data: bytes) -> None:
    with pytest.raises(InvalidRequest):
        a_server().process(data, 8)


def test_a_point_off_the_curve_is_refused_not_a_crash() -> None:
    for x in range(2, 40):  # about half of all x have no point on P-256
        try:
            a_server().process(_request([b"\x02" + x.to_bytes(32, "big")]), 8)
        except InvalidRequest:
            return
    pytest.fail("no x without a point found")


def test_a_partner_answer_that_does_not_fit_the_question_fails_closed() -> None:
    server = a_server()
    setup = server.setup(FINDABLE, 8).data
    query, other = psi.Query(["111222333"]), psi.Query(["111222333", "123456782"])
    answer, _ = server.process(other.request, 8)
    with pytest.raises(PartnerUnavailable):
        query.matches(setup, answer)
    with pytest.raises(PartnerUnavailable):
        query.matches(b"\xff\xff", answer)
    with pytest.raises(PartnerUnavailable):
        psi.check_setup(b"\xff\x00")
    with pytest.raises(PartnerUnavailable):
        psi.check_setup(b"")
