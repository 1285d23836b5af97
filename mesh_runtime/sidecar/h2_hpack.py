"""The HPACK encoder of both ends of the sidecar's HTTP/2 connections.

hpack's `Encoder` Huffman-codes every literal and adds every field it has not seen to the
dynamic table. In pure Python both cost: the Huffman coder walks each byte, and a table
full of once-only values (a new `traceparent` per request) makes every later field's
search scan longer and every addition evict. `FieldEncoder` sends literals as they are
(the receiving end then skips Huffman decoding too) and sends the fields whose value is
new on every request as literals without indexing, leaving the table to the fields that
repeat. The block is a few bytes longer; the peer decodes it as any HPACK block.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpack import Encoder
from hpack.hpack import INDEX_NONE

PER_REQUEST = frozenset(
    {
        b"traceparent",
        b"tracestate",
        b"x-request-id",
        b"grpc-timeout",
        b"x-b3-traceid",
        b"x-b3-spanid",
        b"x-b3-parentspanid",
        b"b3",
        b"content-length",
    }
)
"""Fields whose values rarely repeat: indexing them would only churn the table."""


class FieldEncoder(Encoder):  # type: ignore[misc]
    """hpack's encoder with literals not Huffman-coded and once-only fields not indexed."""

    def encode(self, headers: Iterable[Any], huffman: bool = False) -> bytes:
        return super().encode(headers, huffman=False)  # type: ignore[no-any-return]

    def add(self, to_add: tuple[bytes, bytes], sensitive: bool, huffman: bool = False) -> bytes:
        name, value = to_add
        if name in PER_REQUEST and not sensitive:
            return self._encode_literal(name, value, INDEX_NONE, False)  # type: ignore[no-any-return]
        return super().add(to_add, sensitive, False)  # type: ignore[no-any-return]
