"""Strict request-head rules and connection timeouts of the sidecar's listeners, pure."""

from __future__ import annotations

import httptools
import pytest

from mesh_runtime.sidecar.limits import (
    HttpLimits,
    Phase,
    Rejected,
    Violation,
    check_head,
    check_header_count,
    parser_violation,
    timeout_action,
)

LIMITS = HttpLimits(max_uri_bytes=64, max_headers=3, max_header_bytes=200)
HOST = (b"host", b"catalog")


def head(
    headers: list[tuple[bytes, bytes]],
    method: bytes = b"GET",
    target: bytes = b"/",
    version: str = "1.1",
) -> int | None:
    violation = check_head(method, target, version, headers, LIMITS)
    return violation.status if violation is not None else None


def test_a_plain_request_passes() -> None:
    """A GET with one Host and an origin-form target is forwarded."""
    assert head([HOST]) is None
    assert head([HOST, (b"content-length", b"5")], b"POST") is None
    assert head([HOST, (b"transfer-encoding", b"chunked ")], b"POST") is None
    assert head([], b"GET", b"/", "1.0") is None
    assert head([HOST], b"OPTIONS", b"*") is None
    assert head([HOST, (b"x-tabbed", b"a\tb")]) is None


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([HOST, (b"content-length", b"1"), (b"content-length", b"1")], 400),
        ([HOST, (b"content-length", b"1"), (b"transfer-encoding", b"chunked")], 400),
        ([HOST, (b"transfer-encoding", b"gzip, chunked")], 501),
        ([HOST, (b"transfer-encoding", b"chunked"), (b"transfer-encoding", b"chunked")], 400),
        ([HOST, (b"content-length", b"+1")], 400),
        ([HOST, (b"x", b"a\x00b")], 400),
        ([HOST, (b"x y", b"1")], 400),
        ([HOST, (b"x\ny", b"1")], 400),
        ([HOST, (b"x\n", b"1")], 400),
        ([HOST, (b"", b"1")], 400),
        ([HOST, (b"a", b"ok"), (b"b", b"late\x7f")], 400),
        ([], 400),
        ([HOST, (b"host", b"other")], 400),
    ],
)
def test_framing_and_field_rules(headers: list[tuple[bytes, bytes]], status: int) -> None:
    """Smuggling shapes httptools might pass are refused with the right status."""
    assert head(headers, b"POST") == status


@pytest.mark.parametrize(
    ("method", "target", "version", "status"),
    [
        (b"GET", b"/", "2.0", 505),
        (b"GET", b"/", "0.9", 505),
        (b"CONNECT", b"host:443", "1.1", 405),
        (b"GET", b"http://evil/", "1.1", 400),
        (b"GET", b"*", "1.1", 400),
        (b"GET", b"/a#b", "1.1", 400),
        (b"GET", b"/a/../b", "1.1", 400),
        (b"GET", b"/a/./b", "1.1", 400),
        (b"GET", b"/a%2F..", "1.1", 400),
        (b"GET", b"/a%2e%2e/b", "1.1", 400),
        (b"GET", b"/a\\b", "1.1", 400),
        (b"GET", b"/" + b"u" * 64, "1.1", 414),
    ],
)
def test_request_line_rules(method: bytes, target: bytes, version: str, status: int) -> None:
    """Versions, CONNECT, non-origin targets and path tricks are refused."""
    assert head([HOST], method, target, version) == status


def test_encoded_characters_in_the_query_are_fine() -> None:
    """Only the path is checked for encoded separators; a query may carry them."""
    assert head([HOST], b"GET", b"/a?next=%2Fb%2e") is None


def test_header_count_and_size_limits() -> None:
    """More headers than allowed, or a head over the byte limit, is 431."""
    assert check_header_count(3, 100, LIMITS) is None
    assert check_header_count(4, 100, LIMITS) == Violation(431, "more than 3 header fields")
    violation = check_header_count(1, 201, LIMITS)
    assert violation is not None and violation.status == 431


def test_parser_errors_map_to_statuses() -> None:
    """Parse errors are 400, an unknown version 505, a callback's Rejected passes through."""

    class Callbacks:
        def on_header(self, name: bytes, value: bytes) -> None:
            raise Rejected(Violation(431, "too big"))

    def error_of(data: bytes, callbacks: object | None = None) -> Exception:
        try:
            httptools.HttpRequestParser(callbacks or object()).feed_data(data)
        except httptools.HttpParserError as exc:
            return exc
        raise AssertionError("parsed")

    assert parser_violation(error_of(b"GET / HTTP/1.2\r\n\r\n")).status == 505
    assert parser_violation(error_of(b"G@T / HTTP/1.1\r\n\r\n")).status == 400
    assert parser_violation(error_of(b"GET / HTTP/1.1\nHost: a\n\n")).status == 400
    rejected = error_of(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Callbacks())
    assert parser_violation(rejected) == Violation(431, "too big")


@pytest.mark.parametrize(
    ("phase", "waited", "action"),
    [
        (Phase.IDLE, 299.0, None),
        (Phase.IDLE, 300.0, "close"),
        (Phase.HEAD, 9.9, None),
        (Phase.HEAD, 10.0, "408"),
        (Phase.BODY, 59.0, None),
        (Phase.BODY, 60.0, "408"),
        (Phase.BUSY, 10_000.0, None),
    ],
)
def test_timeouts(phase: Phase, waited: float, action: str | None) -> None:
    """Idle connections close quietly; slow heads and bodies get 408; busy ones wait."""
    assert timeout_action(phase, 100.0, 100.0 + waited, HttpLimits()) == action
