"""Strict request validation and connection timeouts for the sidecar's listeners, pure.

httptools (llhttp) already refuses most smuggling shapes (CL with TE, duplicate CL, bare
LF, obs-fold, whitespace before the colon, control characters, bad chunk sizes). What it
lets through, and what this module refuses before anything is forwarded:

- versions other than HTTP/1.0 and HTTP/1.1 (it parses 'HTTP/2.0' and 'HTTP/0.9'): 505;
- Transfer-Encoding other than exactly `chunked` (it takes 'gzip, chunked'): 501;
  Transfer-Encoding on HTTP/1.0, or twice: 400;
- absolute-form and authority-form targets, CONNECT (405), fragments, dot-segments and
  encoded separators in the path (what path-based authorization could be fooled by): 400;
- a missing (HTTP/1.1) or repeated Host: 400;
- heads over the size limits: 414 (request target) and 431 (header block, header count).

`timeout_action` is the idle / header-read / request-read timeout decision of one
connection, fed its phase and a clock; the listener's sweeper applies it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Literal

import httptools

from mesh_runtime.sidecar.h2_guard import FloodLimits

Headers = list[tuple[bytes, bytes]]

_BAD_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A header name, used with fullmatch (a `$` would let a trailing newline through)."""
_TOKEN_MAP: Final = bytes(1 if _TOKEN.fullmatch(bytes((b,))) else 0 for b in range(256))
_VALUE_MAP: Final = bytes(0 if _BAD_VALUE.match(bytes((b,))) else 1 for b in range(256))
"""Translate tables, taken from the two patterns: a byte a header name (a token) or a
header value may hold to 1, any other to 0. A table alone (no bytes to delete) is
`translate`'s plain loop; deleting made it fill a 256-entry table first, each call."""
_TARGET_MAP: Final = bytes(1 if 0x21 <= b <= 0x7E else 0 for b in range(256))
"""A byte a request target may hold (visible ASCII, as llhttp takes in a request line) to 1."""
_ENCODED_SEPARATOR: Final = re.compile(rb"%(2[eEfF]|5[cC])")
# Bytes looked for in a target as ints: `int in bytes` is a memchr, while `b"#" in target`
# first tries its needle as an int and raises and clears a TypeError (~0.25 us each).
_FRAGMENT: Final = ord("#")
_BACKSLASH: Final = ord("\\")
_PERCENT: Final = ord("%")
_QUESTION: Final = ord("?")
_DOT: Final = ord(".")


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Per-listener limits; Envoy's defaults where it has one."""

    max_header_bytes: int = 60 * 1024
    """Request line plus header block (Envoy's max_request_headers_kb is 60)."""
    max_headers: int = 100
    max_uri_bytes: int = 8 * 1024
    max_body: int = 16 * 1024 * 1024
    header_timeout: float = 10.0
    """From a request's first byte until its head is complete (then 408 and close)."""
    request_timeout: float = 60.0
    """From a request's first byte until its body is complete."""
    idle_timeout: float = 300.0
    """A connection with no request in progress is closed after this long."""
    max_connections: int = 10_000
    """Concurrent downstream connections per listener; more are closed at once."""
    h2_max_concurrent_streams: int = 256
    """SETTINGS_MAX_CONCURRENT_STREAMS of an HTTP/2 connection (streams open at once)."""
    h2_floods: FloodLimits = field(default_factory=FloodLimits)
    """Resets, SETTINGS and PINGs one HTTP/2 connection may send per second."""


@dataclass(frozen=True, slots=True)
class Violation:
    """A request refused at the edge: the status to answer and why."""

    status: int
    reason: str


class Rejected(Exception):
    """Raised from a parser callback to stop parsing; carries the violation."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.reason)
        self.violation = violation


def check_target_size(size: int, limits: HttpLimits) -> Violation | None:
    if size > limits.max_uri_bytes:
        return Violation(414, f"request target over {limits.max_uri_bytes} bytes")
    return None


def check_header_count(count: int, size: int, limits: HttpLimits) -> Violation | None:
    """The head so far: `count` headers of `size` bytes (request line included)."""
    if count > limits.max_headers:
        return Violation(431, f"more than {limits.max_headers} header fields")
    if size > limits.max_header_bytes:
        return Violation(431, f"request head over {limits.max_header_bytes} bytes")
    return None


def check_head(
    method: bytes, target: bytes, version: str, headers: Headers, limits: HttpLimits
) -> Violation | None:
    """The first rule a complete request head breaks, or None when it may be forwarded."""
    if version not in ("1.1", "1.0"):
        return Violation(505, f"HTTP/{version} is not supported")
    if method == b"CONNECT":
        return Violation(405, "CONNECT is not supported")
    return check_target(method, target, limits) or _check_headers(headers, version)


def check_request_line(method: bytes, target: bytes) -> Violation | None:
    """HTTP/2's :method and :path, which go on in an HTTP/1.1 request line (to an HTTP/1.1
    app, or the next sidecar's): llhttp's rules there, a token and visible ASCII. h2 itself
    refuses only NUL, CR and LF in them; a space would split the line (`G T /x`)."""
    if not method or 0 in method.translate(_TOKEN_MAP):
        return Violation(400, "invalid method")
    if 0 in target.translate(_TARGET_MAP):
        return Violation(400, "invalid request target")
    return None


def check_target(method: bytes, target: bytes, limits: HttpLimits) -> Violation | None:
    """Origin-form only (and `OPTIONS *`); nothing path-based authorization could misread."""
    too_long = check_target_size(len(target), limits)
    if too_long is not None:
        return too_long
    if target == b"*":
        return None if method == b"OPTIONS" else Violation(400, "'*' target is only for OPTIONS")
    if not target.startswith(b"/"):
        return Violation(400, "only origin-form request targets ('/path') are supported")
    # `int in bytes` (a memchr) before any method call: `split` and `find` are generic
    # method calls in the compiled build (~750 instructions each), and the usual target has
    # no query and no dot.
    path = target.split(b"?", 1)[0] if _QUESTION in target else target
    if _FRAGMENT in target or _BACKSLASH in path:
        return Violation(400, "fragment or backslash in the request target")
    if _PERCENT in path and _ENCODED_SEPARATOR.search(path):
        return Violation(400, "encoded '.', '/' or '\\' in the path")
    if _DOT not in path or path.find(b"/.") < 0:  # no segment starts with a dot: none to split
        return None
    segments = path.split(b"/")
    if b"." in segments or b".." in segments:
        return Violation(400, "dot-segments in the path")
    return None


def _check_headers(headers: Headers, version: str) -> Violation | None:
    """The header fields' bytes, then Content-Length / Transfer-Encoding framing, then
    Host, in one pass over the headers."""
    # All names and all values at once, each joined, mapped by one `translate` and searched
    # for a 0 (a memchr): C loops, where the regex over a `name NUL value LF` block before
    # was sre's class test a byte at a time, most of this check. A name must not be empty
    # (a token is one byte or more). A block that fails is read header by header for the
    # rule it breaks. The same pass counts the framing headers and Host (one loop, no
    # lists of them: session 14, callgrind: this check 17.8 k instructions a request for
    # the compiled pair before).
    length = coding = b""
    lengths = codings = hosts = 0
    for name, value in headers:
        if len(name) == 0:
            return _first_bad_field(headers)
        if name == b"host":
            hosts += 1
        elif name == b"content-length":
            lengths += 1
            length = value
        elif name == b"transfer-encoding":
            codings += 1
            coding = value
    # Comprehensions, not appends: the compiled build sizes each list once.
    names = b"".join([name for name, _ in headers])
    values = b"".join([value for _, value in headers])
    if 0 in names.translate(_TOKEN_MAP) or 0 in values.translate(_VALUE_MAP):
        return _first_bad_field(headers)
    if lengths == 0 and codings == 0:
        return _check_host(hosts, version)
    return _check_framing(lengths, length, codings, coding, version) or _check_host(hosts, version)


def _first_bad_field(headers: Headers) -> Violation | None:
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            return Violation(400, "invalid header name")
        if _BAD_VALUE.search(value):
            return Violation(400, "control character in a header value")
    return None


def _check_framing(
    lengths: int, length: bytes, codings: int, coding: bytes, version: str
) -> Violation | None:
    """`lengths` Content-Length headers, the last `length`; `codings` Transfer-Encoding
    headers, the last `coding`."""
    if lengths > 1:
        return Violation(400, "more than one Content-Length")
    if lengths and not _is_number(length):
        return Violation(400, "Content-Length is not a number")
    if not codings:
        return None
    if lengths:
        return Violation(400, "both Content-Length and Transfer-Encoding")
    if codings > 1:
        return Violation(400, "more than one Transfer-Encoding")
    if version == "1.0":
        return Violation(400, "Transfer-Encoding in an HTTP/1.0 request")
    if coding.strip().lower() != b"chunked":
        return Violation(501, "only 'Transfer-Encoding: chunked' is supported")
    return None


def _is_number(value: bytes) -> bool:
    """`value.strip().isdigit()`, without the strip (a second method call compiled, a copy
    interpreted) for the usual bare digits."""
    return value.isdigit() or value.strip().isdigit()


def _check_host(hosts: int, version: str) -> Violation | None:
    if hosts > 1:
        return Violation(400, "more than one Host header")
    if hosts == 0 and version == "1.1":
        return Violation(400, "HTTP/1.1 request without a Host header")
    return None


def parser_violation(exc: Exception) -> Violation:
    """The answer to an httptools parse error (a callback's Rejected passes through)."""
    cause = exc.__context__
    if isinstance(cause, Rejected):
        return cause.violation
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        return Violation(400, "invalid method")
    if isinstance(exc, httptools.HttpParserInvalidURLError):
        return Violation(400, "invalid request target")
    if "HTTP version" in str(exc):
        return Violation(505, "HTTP version not supported")
    return Violation(400, "malformed request")


# --- connection timeouts ---------------------------------------------------------


class Phase(Enum):
    IDLE = "idle"
    """No request in progress: waiting for the next one (keep-alive)."""
    HEAD = "head"
    """A request's head is arriving."""
    BODY = "body"
    """A request's body is arriving."""
    BUSY = "busy"
    """Requests are being answered: the route's own timeouts apply."""


TimeoutAction = Literal["close", "408"]


def timeout_action(
    phase: Phase, since: float, now: float, limits: HttpLimits
) -> TimeoutAction | None:
    """What to do with a connection in `phase` since `since` (a request's first byte, or
    the moment it went idle), at `now`: close it quietly, answer 408 and close, or nothing."""
    waited = now - since
    if phase is Phase.IDLE and waited >= limits.idle_timeout:
        return "close"
    if phase is Phase.HEAD and waited >= limits.header_timeout:
        return "408"
    if phase is Phase.BODY and waited >= limits.request_timeout:
        return "408"
    return None
