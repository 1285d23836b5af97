"""Strict request-head rules and connection timeouts of the sidecar's listeners, pure."""

from __future__ import annotations

import random
import re

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


# --- the head check against session 13's code (544ba88), on random heads -------------
# Session 14 rewrote check_head for the compiled sidecar (one pass over the headers, no
# method calls on the usual target); the functions below restate the code before, as the
# reference, and both get the same random heads.

_OLD_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OLD_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_OLD_ENCODED = re.compile(rb"%(2[eEfF]|5[cC])")


def old_check_head(
    method: bytes, target: bytes, version: str, headers: list[tuple[bytes, bytes]]
) -> Violation | None:
    if version not in ("1.1", "1.0"):
        return Violation(505, f"HTTP/{version} is not supported")
    if method == b"CONNECT":
        return Violation(405, "CONNECT is not supported")
    return (
        old_check_target(method, target)
        or old_check_fields(headers)
        or old_check_framing_and_host(headers, version)
    )


def old_check_target(method: bytes, target: bytes) -> Violation | None:
    if len(target) > LIMITS.max_uri_bytes:
        return Violation(414, f"request target over {LIMITS.max_uri_bytes} bytes")
    if target == b"*":
        return None if method == b"OPTIONS" else Violation(400, "'*' target is only for OPTIONS")
    if not target.startswith(b"/"):
        return Violation(400, "only origin-form request targets ('/path') are supported")
    path = target.split(b"?", 1)[0]
    if b"#" in target or b"\\" in path:
        return Violation(400, "fragment or backslash in the request target")
    if b"%" in path and _OLD_ENCODED.search(path):
        return Violation(400, "encoded '.', '/' or '\\' in the path")
    if path.find(b"/.") < 0:
        return None
    segments = path.split(b"/")
    if b"." in segments or b".." in segments:
        return Violation(400, "dot-segments in the path")
    return None


def old_check_fields(headers: list[tuple[bytes, bytes]]) -> Violation | None:
    for name, value in headers:
        if not _OLD_TOKEN.fullmatch(name):
            return Violation(400, "invalid header name")
        if _OLD_BAD_VALUE.search(value):
            return Violation(400, "control character in a header value")
    return None


def old_check_framing_and_host(
    headers: list[tuple[bytes, bytes]], version: str
) -> Violation | None:
    lengths = [value for name, value in headers if name == b"content-length"]
    codings = [value for name, value in headers if name == b"transfer-encoding"]
    hosts = sum(1 for name, _ in headers if name == b"host")
    if len(lengths) > 1:
        return Violation(400, "more than one Content-Length")
    if lengths and not lengths[0].strip().isdigit():
        return Violation(400, "Content-Length is not a number")
    if codings:
        if lengths:
            return Violation(400, "both Content-Length and Transfer-Encoding")
        if len(codings) > 1:
            return Violation(400, "more than one Transfer-Encoding")
        if version == "1.0":
            return Violation(400, "Transfer-Encoding in an HTTP/1.0 request")
        if codings[0].strip().lower() != b"chunked":
            return Violation(501, "only 'Transfer-Encoding: chunked' is supported")
    if hosts > 1:
        return Violation(400, "more than one Host header")
    if hosts == 0 and version == "1.1":
        return Violation(400, "HTTP/1.1 request without a Host header")
    return None


_TARGET_PARTS = [b"/", b"/", b"a", b".", b"..", b"/.", b"?", b"#", b"%2e", b"%2F", b"%5C"]
_TARGET_PARTS += [b"%41", b"\\", b"x.y", b"*", b"=", b"\x00"]
_PLAIN_TARGET_PARTS = [b"/", b"a", b"x.y", b"?", b"="]
_NAMES = [b"host", b"content-length", b"transfer-encoding", b"x-a", b"user-agent", b""]
_NAMES += [b"x y", b"a\n", b"a:", b"\x7f", b"Host", b"~!#$%&'*+-.^_`|"]
_VALUE_PARTS = [b"1024", b"0", b" ", b"\t", b"+", b"/", b":", b"chunked", b"Chunked", b"gzip, "]
_VALUE_PARTS += [
    b"\x00",
    b"\n",
    b"\r",
    b"\x0b",
    b"\x1f",
    b"\x7f",
    b"\x80",
    b"\xff",
    b"ok",
    b"\xd9\xa3",
]


def test_check_head_answers_as_session_13s_code_on_random_heads() -> None:
    """Same violation (status and reason) or None as the code before, on 3000 random heads
    built from the pieces each rule looks at (with a few of each rule's edge cases)."""
    rng = random.Random(14)
    refused = 0
    seen: set[str] = set()
    for _ in range(3000):
        method = rng.choice(
            [b"GET", b"POST", b"OPTIONS", b"CONNECT"] if rng.random() < 0.1 else [b"GET"]
        )
        version = rng.choice(["1.1", "1.1", "1.1", "1.0", "2.0"] if rng.random() < 0.2 else ["1.1"])
        parts = _TARGET_PARTS if rng.random() < 0.5 else _PLAIN_TARGET_PARTS
        target = b"".join(rng.choices(parts, k=rng.randrange(0, 6)))
        if rng.random() < 0.02:
            target += b"/0123456789" * 6
        elif rng.random() < 0.02:
            target = b"*"
        if rng.random() < 0.9:
            target = b"/" + target
        headers = [
            (
                rng.choice(_NAMES[:5]) if rng.random() < 0.8 else rng.choice(_NAMES),
                b"".join(rng.choices(_VALUE_PARTS[:10], k=rng.randrange(0, 3)))
                if rng.random() < 0.9
                else b"".join(rng.choices(_VALUE_PARTS, k=rng.randrange(0, 3))),
            )
            for _ in range(rng.randrange(0, 4))
        ]
        if rng.random() < 0.8:
            headers.insert(rng.randrange(len(headers) + 1), HOST)
        new = check_head(method, target, version, headers, LIMITS)
        assert new == old_check_head(method, target, version, headers), (
            method,
            target,
            version,
            headers,
        )
        refused += new is not None
        seen.add(new.reason if new is not None else "")
    assert 900 < refused < 2400, refused  # both answers, often
    assert len(seen) == 19, sorted(seen)  # each of the 18 violations, and None
