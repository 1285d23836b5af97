"""A request body as sent, undone of its Content-Encoding (identity, gzip, deflate).

The trace sink and the control plane decode bodies themselves (their aiohttp apps run
with `auto_decompress=False`): the decoded size is capped as it is produced, a stream that
stops short of its end is refused (aiohttp took a truncated gzip whose payload happened to
be whole), and a body that is not the encoding it says fails here with a reason (400)
instead of inside the HTTP parser, where a bad deflate stream could leave the request
unanswered and a bad gzip one was a 500. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import zlib

ENCODINGS = frozenset({"", "identity", "gzip", "deflate"})
"""Content-Encodings a body may have; any other is refused (415): left as it is, the
body would be read as if it were not encoded."""


class Undecodable(ValueError):
    """The body is not the encoding it says (400)."""


class TooLarge(ValueError):
    """Decoded, the body is over the limit (413)."""


def undo_encoding(body: bytes, encoding: str, limit: int) -> bytes:
    """`body` undone of `encoding` (one of ENCODINGS, lower case), at most `limit` bytes."""
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return _inflate(body, zlib.MAX_WBITS | 16, limit)
    try:  # deflate is zlib-wrapped (RFC 9110); some clients send it raw, as aiohttp takes
        return _inflate(body, zlib.MAX_WBITS, limit)
    except Undecodable:
        return _inflate(body, -zlib.MAX_WBITS, limit)


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Undecodable(f"not {_name(wbits)} data: {exc}") from None
    if len(data) > limit:
        raise TooLarge(f"over {limit} bytes once decoded")
    if not inflater.eof:
        raise Undecodable(f"the {_name(wbits)} stream ends before its end")
    if inflater.unused_data:
        raise Undecodable(f"{len(inflater.unused_data)} bytes after the {_name(wbits)} stream")
    return data


def _name(wbits: int) -> str:
    return "gzip" if wbits > zlib.MAX_WBITS else "deflate"
