"""The HPACK codec (RFC 7541) of both ends of the sidecar's HTTP/2 connections.

h2 compresses header blocks with the `hpack` library: pure Python, a log call per field,
a linear search of the dynamic table per field sent. It was about a seventh of a gRPC
call's sidecar time. `FieldEncoder` and `FieldDecoder` take its place on every
connection (`h2_wire.H2Wire`): the same interface h2 calls (`encode`, `decode`, the table
size and header-list limits), compiled with the rest of the request path (`native`).

`FieldEncoder` sends literals as they are (no Huffman coding: the receiving end skips
Huffman decoding too; the block is a few bytes longer), sends the fields whose value is
new on every request (`PER_REQUEST`: a `traceparent` per request) as literals without
indexing, and indexes the rest, finding a field in the dynamic table by a dict instead
of a scan. `FieldDecoder` reads any HPACK block (Huffman-coded or not) and refuses a
malformed one with hpack's own exceptions, on which h2 ends the connection (GOAWAY
PROTOCOL_ERROR), as it does with hpack's own decoder.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from hpack.exceptions import (
    HPACKDecodingError,
    InvalidTableIndex,
    InvalidTableSizeError,
    OversizedHeaderListError,
)
from hpack.huffman_table import HUFFMAN_TABLE
from hpack.struct import HeaderTuple, NeverIndexedHeaderTuple
from hpack.table import HeaderTable

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

DEFAULT_TABLE_SIZE: Final = 4096
"""SETTINGS_HEADER_TABLE_SIZE's initial value; the encoder never uses a larger table."""
DEFAULT_MAX_HEADER_LIST_SIZE: Final = 65536
ENTRY_OVERHEAD: Final = 32
"""What an entry costs in a table beyond its name and value (RFC 7541 section 4.1)."""
MAX_INT_BYTES: Final = 5
"""Continuation bytes an integer may take (values below 2**35): more is an error."""

_STATIC: Final[tuple[tuple[bytes, bytes], ...]] = tuple(HeaderTable.STATIC_TABLE)
_STATIC_LEN: Final = len(_STATIC)
_STATIC_FIELD: Final[dict[tuple[bytes, bytes], int]] = {}
_STATIC_NAME: Final[dict[bytes, int]] = {}
for _index, _field in enumerate(_STATIC, 1):
    _STATIC_FIELD.setdefault(_field, _index)
    _STATIC_NAME.setdefault(_field[0], _index)

# hpack's nibble-at-a-time Huffman state machine (nghttp2's), each (state, flags, byte)
# packed into one int: state << 16 | flags << 8 | byte.
_HUFFMAN: Final[list[int]] = [s << 16 | f << 8 | b for s, f, b in HUFFMAN_TABLE]
_HUFFMAN_COMPLETE: Final = 1
_HUFFMAN_EMIT: Final = 2
_HUFFMAN_FAIL: Final = 4


def entry_size(name: bytes, value: bytes) -> int:
    return ENTRY_OVERHEAD + len(name) + len(value)


def huffman_decode(data: bytes) -> bytes:
    """A Huffman-coded string literal's bytes; HPACKDecodingError for an invalid code or
    padding."""
    if not data:
        return b""
    out = bytearray()
    entry = 0  # state 0, no flags
    for byte in data:
        entry = _huffman_step(entry >> 16, byte >> 4, out)
        entry = _huffman_step(entry >> 16, byte & 0x0F, out)
    if not entry >> 8 & _HUFFMAN_COMPLETE:
        raise HPACKDecodingError("Incomplete Huffman string")
    return bytes(out)


def _huffman_step(state: int, nibble: int, out: bytearray) -> int:
    """One nibble through the state machine from `state`: its packed entry, the byte it
    completes (if any) appended to `out`."""
    entry = _HUFFMAN[state << 4 | nibble]
    flags = entry >> 8 & 0xFF
    if flags & _HUFFMAN_FAIL:
        raise HPACKDecodingError("Invalid Huffman string")
    if flags & _HUFFMAN_EMIT:
        out.append(entry & 0xFF)
    return entry


def read_int(data: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
    """The integer at `pos` with a `prefix_bits` prefix, and the position after it."""
    limit = (1 << prefix_bits) - 1
    value = data[pos] & limit
    pos += 1
    if value < limit:
        return value, pos
    shift = 0
    for _ in range(MAX_INT_BYTES):
        if pos >= len(data):
            raise HPACKDecodingError("Truncated HPACK integer")
        byte = data[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise HPACKDecodingError("HPACK integer representation is too long")


def put_int(out: bytearray, value: int, prefix_bits: int, first: int) -> None:
    """Append `value` with a `prefix_bits` prefix, the first byte's high bits `first`."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        out.append(first | value)
        return
    out.append(first | limit)
    value -= limit
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def put_string(out: bytearray, data: bytes) -> None:
    put_int(out, len(data), 7, 0)
    out += data


class _Table:
    """A dynamic table: entries newest last, evicted oldest first past `maxsize`."""

    def __init__(self, maxsize: int) -> None:
        self.entries: list[tuple[bytes, bytes]] = []
        self.size = 0
        self.maxsize = maxsize
        self.added = 0
        """Entries ever added: the newest has sequence number added - 1."""

    def add(self, name: bytes, value: bytes) -> None:
        self.added += 1
        self.entries.append((name, value))
        self.size += entry_size(name, value)
        self.shrink()

    def resize(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.shrink()

    def shrink(self) -> None:
        entries = self.entries
        while self.size > self.maxsize and entries:
            name, value = entries[0]
            del entries[0]
            self.size -= entry_size(name, value)
            self.evicted(self.added - len(entries) - 1, name, value)

    def evicted(self, seq: int, name: bytes, value: bytes) -> None:
        """Called for each entry evicted, with its sequence number."""

    def get(self, index: int) -> tuple[bytes, bytes]:
        """The entry at HPACK `index` (static table first, then newest to oldest)."""
        if 0 < index <= _STATIC_LEN:
            return _STATIC[index - 1]
        back = index - _STATIC_LEN
        entries = self.entries
        if 0 < back <= len(entries):
            return entries[len(entries) - back]
        raise InvalidTableIndex(f"Invalid table index {index}")


class _EncoderTable(_Table):
    """The encoder's table, with where each field and each name was last added."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.fields: dict[tuple[bytes, bytes], int] = {}
        self.names: dict[bytes, int] = {}

    def add(self, name: bytes, value: bytes) -> None:
        seq = self.added
        self.fields[(name, value)] = seq
        self.names[name] = seq
        super().add(name, value)

    def evicted(self, seq: int, name: bytes, value: bytes) -> None:
        if self.fields.get((name, value)) == seq:
            del self.fields[(name, value)]
        if self.names.get(name) == seq:
            del self.names[name]

    def index_of(self, seq: int) -> int:
        return _STATIC_LEN + self.added - seq


class FieldEncoder:
    """HPACK encoding of header blocks as h2 asks for them (`encode`)."""

    def __init__(self) -> None:
        self._table = _EncoderTable(DEFAULT_TABLE_SIZE)
        self._resizes: list[int] = []

    @property
    def header_table_size(self) -> int:
        return self._table.maxsize

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        """The peer's SETTINGS_HEADER_TABLE_SIZE: the table never exceeds it (nor the
        default); a change is announced at the start of the next block."""
        size = min(value, DEFAULT_TABLE_SIZE)
        if size != self._table.maxsize:
            self._table.resize(size)
            self._resizes.append(size)

    def encode(self, headers: Iterable[Any], huffman: bool = False) -> bytes:
        """One header block for `headers`: (name, value) pairs, (name, value, sensitive)
        triples or hpack's HeaderTuples; a sensitive field is never indexed, here or by
        any proxy after us. Literals are never Huffman-coded, whatever `huffman` says."""
        out = bytearray()
        if self._resizes:
            smallest = min(self._resizes)
            if smallest < self._table.maxsize:
                put_int(out, smallest, 5, 0x20)
            put_int(out, self._table.maxsize, 5, 0x20)
            self._resizes.clear()
        for header in headers:
            if isinstance(header, HeaderTuple):
                sensitive = not header.indexable
            else:
                sensitive = len(header) > 2 and bool(header[2])
            self._field(out, _as_bytes(header[0]), _as_bytes(header[1]), sensitive)
        return bytes(out)

    def _field(self, out: bytearray, name: bytes, value: bytes, sensitive: bool) -> None:
        table = self._table
        if sensitive or name in PER_REQUEST:
            # Literal never indexed (0x10) or without indexing (0x00), 4-bit name index.
            self._put_literal(out, name, value, 4, 0x10 if sensitive else 0x00)
            return
        index = _STATIC_FIELD.get((name, value), 0)
        if index == 0:
            seq = table.fields.get((name, value))
            if seq is not None:
                index = table.index_of(seq)
        if index:
            put_int(out, index, 7, 0x80)
            return
        self._put_literal(out, name, value, 6, 0x40)  # with incremental indexing
        table.add(name, value)

    def _put_literal(
        self, out: bytearray, name: bytes, value: bytes, prefix_bits: int, first: int
    ) -> None:
        """A literal field: the name by its index when a table has it, else spelled out."""
        name_index = self._name_index(name)
        put_int(out, name_index, prefix_bits, first)
        if name_index == 0:
            put_string(out, name)
        put_string(out, value)

    def _name_index(self, name: bytes) -> int:
        index = _STATIC_NAME.get(name, 0)
        if index:
            return index
        seq = self._table.names.get(name)
        return 0 if seq is None else self._table.index_of(seq)


class FieldDecoder:
    """HPACK decoding of header blocks as h2 asks for it (`decode`), within its limits."""

    def __init__(self, max_header_list_size: int = DEFAULT_MAX_HEADER_LIST_SIZE) -> None:
        self._table = _Table(DEFAULT_TABLE_SIZE)
        self.max_header_list_size = max_header_list_size
        """The most a block may expand to (names, values and 32 a field): more is an
        HPACK bomb, refused with OversizedHeaderListError."""
        self.max_allowed_table_size = DEFAULT_TABLE_SIZE
        """Our SETTINGS_HEADER_TABLE_SIZE once acknowledged: the peer's table stays within."""

    @property
    def header_table_size(self) -> int:
        return self._table.maxsize

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        self._table.resize(value)

    def decode(self, block: Any, raw: bool = True) -> list[Any]:
        """The header block's fields in order, as (name, value) byte pairs (a field sent
        never-indexed as hpack's NeverIndexedHeaderTuple, so that it stays so when passed
        on); str pairs unless `raw`. A malformed block raises HPACKDecodingError."""
        data = block if isinstance(block, bytes) else bytes(block)
        table = self._table
        fields: list[Any] = []
        inflated = 0
        pos = 0
        end = len(data)
        while pos < end:
            first = data[pos]
            if first & 0x80:
                index, pos = read_int(data, pos, 7)
                if index == 0:
                    raise InvalidTableIndex("Invalid table index 0")
                name, value = table.get(index)
                fields.append((name, value))
            elif first & 0x40:
                name, value, pos = self._literal(data, pos, 6)
                table.add(name, value)
                fields.append((name, value))
            elif first & 0x20:
                if fields:
                    raise HPACKDecodingError("Table size update not at the start of the block")
                size, pos = read_int(data, pos, 5)
                if size > self.max_allowed_table_size:
                    raise InvalidTableSizeError("Encoder exceeded max allowable table size")
                table.resize(size)
                continue
            else:
                name, value, pos = self._literal(data, pos, 4)
                if first & 0x10:
                    fields.append(NeverIndexedHeaderTuple(name, value))
                else:
                    fields.append((name, value))
            inflated += entry_size(name, value)
            if inflated > self.max_header_list_size:
                raise OversizedHeaderListError(
                    f"A header list larger than {self.max_header_list_size} has been received"
                )
        if table.maxsize > self.max_allowed_table_size:
            raise InvalidTableSizeError("Encoder did not shrink table size to within the max")
        if raw:
            return fields
        try:
            return [(n.decode("utf-8"), v.decode("utf-8")) for n, v in fields]
        except UnicodeDecodeError as exc:
            raise HPACKDecodingError("Unable to decode headers as UTF-8") from exc

    def _literal(self, data: bytes, pos: int, prefix_bits: int) -> tuple[bytes, bytes, int]:
        if data[pos] & ((1 << prefix_bits) - 1):
            index, pos = read_int(data, pos, prefix_bits)
            name = self._table.get(index)[0]
        else:
            name, pos = _read_string(data, pos + 1)
        value, pos = _read_string(data, pos)
        return name, value, pos


def _read_string(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos >= len(data):
        raise HPACKDecodingError("Truncated header block")
    huffman = data[pos] & 0x80
    length, pos = read_int(data, pos, 7)
    end = pos + length
    if end > len(data):
        raise HPACKDecodingError("Truncated header block")
    text = data[pos:end]
    return (huffman_decode(text) if huffman else text), end


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")
