"""HTTP/1.1 heads in their wire form: hop-by-hop header rules and head serialisation.

What the listeners and the upstream client write (`http1.py` holds the messages they
carry): a request's or a response's head, a chunk of a chunked body, the canned answers,
and the end-to-end headers a proxy passes on. Header names are lower-case bytes
(`http1.Headers`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final, cast

from mesh_runtime.sidecar.http1 import Headers

HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"content-length",
        b"expect",
    }
)
"""Headers that describe one connection (plus the framing ones we always recompute)."""

NEVER_HOP_BY_HOP: Final = frozenset({b"host"})
"""Names a Connection header may list but never drops: Host names the request's target,
not the connection (listed, it left an HTTP/1.1 request without Host, which the next hop
refuses)."""

NO_BODY_STATUS: Final = frozenset({204, 304})
BODY_METHODS: Final = frozenset({b"POST", b"PUT", b"PATCH"})


_NO_TOKENS: Final[frozenset[bytes]] = frozenset()


def connection_tokens(headers: Headers) -> frozenset[bytes]:
    """Lower-case tokens of the Connection header(s): the headers they name as this
    connection's own, never one of `NEVER_HOP_BY_HOP`."""
    tokens: set[bytes] | None = None  # made only for a Connection header (most have none)
    for key, value in headers:
        if key == b"connection":
            if tokens is None:
                tokens = set()
            tokens.update(t.strip().lower() for t in value.split(b","))
    if tokens is None:
        return _NO_TOKENS
    tokens -= NEVER_HOP_BY_HOP
    return frozenset(tokens) if tokens else _NO_TOKENS


def end_to_end(headers: Headers, dropped: frozenset[bytes] = HOP_BY_HOP) -> Headers:
    """Headers without hop-by-hop ones (and without those Connection names), and without
    any other name in `dropped` (a superset of HOP_BY_HOP); a new list of the same tuples.

    The items are plain objects here: mypyc unpacks a typed `tuple[bytes, bytes]` taken from
    a list and would make a new tuple to put it in another (session 14)."""
    named = connection_tokens(headers)
    any_named = len(named) != 0
    kept: list[object] = []
    for item in cast("list[object]", headers):
        name = cast("tuple[bytes, bytes]", item)[0]
        if name not in dropped and (not any_named or name not in named):
            kept.append(item)
    return cast(Headers, kept)


def encode_request_head(method: bytes, target: bytes, headers: Headers, body_len: int) -> bytes:
    """The request line and headers, with Content-Length when there is (or may be) a body."""
    end = _length_line(body_len) if body_len or method in BODY_METHODS else b"\r\n"
    if not headers:
        return b"".join([method, b" ", target, b" HTTP/1.1\r\n", end])
    # A header a part ('key: value', two concatenations) in a separator join: fewer parts
    # than four a header (b"".join's ~100 instructions a part) and no appends (session 14,
    # compiled, 6 headers: 6.45 k -> 5.45 k instructions a head with the length line's cache).
    fields = b"\r\n".join([key + b": " + value for key, value in headers])
    return b"".join([method, b" ", target, b" HTTP/1.1\r\n", fields, b"\r\n", end])


_LENGTH_LINES: Final[dict[int, bytes]] = {}
"""'content-length: N' lines and the head's blank line, by N: a request's body length is
mostly one of a few; at most `_LENGTH_LINES_MAX` kept, made once each."""
_LENGTH_LINES_MAX: Final = 1024


def _length_line(body_len: int) -> bytes:
    line = _LENGTH_LINES.get(body_len)
    if line is None:
        line = f"content-length: {body_len}\r\n\r\n".encode()
        if len(_LENGTH_LINES) < _LENGTH_LINES_MAX:
            _LENGTH_LINES[body_len] = line
    return line


_STATUS_LINES: Final[dict[int, bytes]] = {
    s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus
}
"""Every known status line, made once (an HTTPStatus look-up per response is not free);
never changed after. A dict, not a read-only MappingProxyType: compiled, a dict's `get` is
a direct call, the proxy's a generic method call."""


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} Unknown\r\n".encode()


def encode_response_head(status: int, headers: Headers, framing: bytes, keep_alive: bool) -> bytes:
    """Status line and headers; `framing` is a ready 'content-length: N\\r\\n' or chunked line."""
    lines = [status_line(status)]
    for key, value in headers:
        lines.append(key)
        lines.append(b": ")
        lines.append(value)
        lines.append(b"\r\n")
    lines.append(framing)
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK: Final = b"0\r\n\r\n"
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
BAD_REQUEST: Final = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n"
    b"connection: close\r\n\r\nBad Request\n"
)
