"""The sidecar's HPACK codec: RFC 7541's own examples, agreement with the `hpack` library
both ways over many blocks (Huffman-coded or not, with evictions and table resizes), and
a clear error for every kind of malformed block."""

from __future__ import annotations

import random

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import RequestReceived, ResponseReceived, TrailersReceived
from h2.exceptions import ProtocolError
from hpack import Decoder, Encoder
from hpack.exceptions import (
    HPACKDecodingError,
    InvalidTableIndex,
    InvalidTableSizeError,
    OversizedHeaderListError,
)
from hpack.struct import NeverIndexedHeaderTuple

from mesh_runtime.sidecar.h2_hpack import (
    FieldDecoder,
    FieldEncoder,
    huffman_decode,
    put_int,
    read_int,
)
from mesh_runtime.sidecar.h2_wire import H2Wire, h2_config

# RFC 7541 Appendix C.4: three requests on one connection, Huffman-coded.
C4 = [
    (
        "828684418cf1e3c2e5f23a6ba0ab90f4ff",
        [
            (b":method", b"GET"),
            (b":scheme", b"http"),
            (b":path", b"/"),
            (b":authority", b"www.example.com"),
        ],
        57,
    ),
    (
        "828684be5886a8eb10649cbf",
        [
            (b":method", b"GET"),
            (b":scheme", b"http"),
            (b":path", b"/"),
            (b":authority", b"www.example.com"),
            (b"cache-control", b"no-cache"),
        ],
        110,
    ),
    (
        "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
        [
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":path", b"/index.html"),
            (b":authority", b"www.example.com"),
            (b"custom-key", b"custom-value"),
        ],
        164,
    ),
]

# RFC 7541 Appendix C.5: three responses, a 256-octet table, evictions, no Huffman.
C5 = [
    (
        "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31"
        "333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
        [
            (b":status", b"302"),
            (b"cache-control", b"private"),
            (b"date", b"Mon, 21 Oct 2013 20:13:21 GMT"),
            (b"location", b"https://www.example.com"),
        ],
        222,
    ),
    (
        "4803333037c1c0bf",
        [
            (b":status", b"307"),
            (b"cache-control", b"private"),
            (b"date", b"Mon, 21 Oct 2013 20:13:21 GMT"),
            (b"location", b"https://www.example.com"),
        ],
        222,
    ),
    (
        "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a"
        "69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d"
        "61782d6167653d333630303b2076657273696f6e3d31",
        [
            (b":status", b"200"),
            (b"cache-control", b"private"),
            (b"date", b"Mon, 21 Oct 2013 20:13:22 GMT"),
            (b"location", b"https://www.example.com"),
            (b"content-encoding", b"gzip"),
            (b"set-cookie", b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"),
        ],
        215,
    ),
]


@pytest.mark.parametrize(("examples", "table_size"), [(C4, 4096), (C5, 256)])
def test_rfc_7541_examples_decode_to_their_fields_and_table_sizes(
    examples: list[tuple[str, list[tuple[bytes, bytes]], int]], table_size: int
) -> None:
    decoder = FieldDecoder()
    decoder.header_table_size = table_size
    for block, fields, size in examples:
        assert decoder.decode(bytes.fromhex(block)) == fields
        assert decoder._table.size == size


def _random_fields(rng: random.Random) -> list[tuple[bytes, bytes]]:
    names = [b":method", b":path", b"content-type", b"te", b"grpc-status", b"x-user"]
    names += [b"traceparent", b"x-request-id", b"cookie", b"authorization", b"x-" * 40]
    fields = []
    for _ in range(rng.randrange(1, 12)):
        name = rng.choice(names)
        value = bytes(rng.randrange(32, 127) for _ in range(rng.choice([0, 1, 5, 30, 200])))
        fields.append((name, rng.choice([value, b"GET", b"application/grpc", b"0"])))
    return fields


@pytest.mark.parametrize("huffman", [True, False])
def test_blocks_from_hpacks_encoder_decode_as_hpacks_decoder_reads_them(huffman: bool) -> None:
    rng = random.Random(7)
    encoder, theirs, ours = Encoder(), Decoder(), FieldDecoder()
    for round_ in range(400):
        if round_ % 97 == 0:  # a SETTINGS_HEADER_TABLE_SIZE change, announced in the block
            size = rng.choice([0, 64, 256, 4096])
            encoder.header_table_size = size
            theirs.max_allowed_table_size = ours.max_allowed_table_size = 4096
        block = encoder.encode(_random_fields(rng), huffman=huffman)
        expected = [tuple(field) for field in theirs.decode(block, raw=True)]
        assert ours.decode(block) == expected
        assert ours.header_table_size == theirs.header_table_size


def test_our_blocks_decode_with_hpack_to_what_was_sent() -> None:
    rng = random.Random(11)
    encoder, theirs = FieldEncoder(), Decoder()
    for round_ in range(400):
        if round_ % 89 == 0:
            encoder.header_table_size = rng.choice([0, 100, 256, 4096, 65536])
        fields = _random_fields(rng)
        assert [tuple(f) for f in theirs.decode(encoder.encode(fields), raw=True)] == fields


def test_repeated_fields_are_indexed_and_per_request_ones_are_not() -> None:
    encoder, decoder = FieldEncoder(), FieldDecoder()
    fields = [(b"content-type", b"application/grpc"), (b"x-mesh", b"v1")]
    first = encoder.encode([*fields, (b"traceparent", b"00-" + b"a" * 52)])
    second = encoder.encode([*fields, (b"traceparent", b"00-" + b"b" * 52)])
    assert decoder.decode(first)[:2] == decoder.decode(second)[:2] == fields
    assert second[:2] == bytes([0x80 | 63, 0x80 | 62])  # both from the dynamic table
    assert len(encoder._table.entries) == 2  # the traceparents were not added


def test_a_sensitive_field_is_never_indexed_and_stays_so_when_decoded() -> None:
    encoder, decoder = FieldEncoder(), FieldDecoder()
    block = encoder.encode([(b"authorization", b"Bearer x", True), (b"a", b"b")])
    assert block[0] & 0xF0 == 0x10  # literal never indexed
    fields = decoder.decode(block)
    assert isinstance(fields[0], NeverIndexedHeaderTuple)
    assert fields == [(b"authorization", b"Bearer x"), (b"a", b"b")]
    assert [entry[0] for entry in encoder._table.entries] == [b"a"]


def test_a_table_size_change_is_announced_smallest_first() -> None:
    encoder, decoder = FieldEncoder(), FieldDecoder()
    encoder.encode([(b"x-a", b"1")])
    encoder.header_table_size = 0
    encoder.header_table_size = 512
    block = encoder.encode([(b"x-a", b"1")])
    assert block[:4] == bytes([0x20, 0x3F, 0xE1, 0x03])  # 0, then 512
    decoder.decode(b"\x40\x03x-a\x011")
    assert decoder.decode(block) == [(b"x-a", b"1")]
    assert decoder.header_table_size == 512


@pytest.mark.parametrize(
    ("block", "error"),
    [
        (b"\xff\xff\xff\xff\xff\xff\xff\x01", HPACKDecodingError),  # integer too long
        (b"\xff", HPACKDecodingError),  # integer cut short
        (b"\x80", InvalidTableIndex),  # index 0
        (b"\xbe", InvalidTableIndex),  # an empty dynamic table's first entry
        (b"\x40\x05abc", HPACKDecodingError),  # name cut short
        (b"\x00\x01a\x85ab", HPACKDecodingError),  # value cut short
        (b"\x00\x01a\x81\xff", HPACKDecodingError),  # Huffman padding longer than 7 bits
        (b"\x00\x01a\x84\xff\xff\xff\xff", HPACKDecodingError),  # Huffman EOS
        (b"\x82\x20", HPACKDecodingError),  # table size update after a field
        (b"\x3f\xe2\x1f", InvalidTableSizeError),  # update above what we allow
        (b"\x00\x01a\x01b", None),  # well-formed, for contrast
    ],
)
def test_a_malformed_block_is_refused_with_hpacks_errors(
    block: bytes, error: type[Exception] | None
) -> None:
    if error is None:
        assert FieldDecoder().decode(block) == [(b"a", b"b")]
        return
    with pytest.raises(error):
        FieldDecoder().decode(block)


def test_an_hpack_bomb_is_refused() -> None:
    decoder = FieldDecoder(max_header_list_size=1000)
    decoder.decode(b"\x40\x01a\x7f\x85\x06" + b"v" * 900)  # one 934-octet field
    with pytest.raises(OversizedHeaderListError):
        decoder.decode(b"\xbe\xbe")  # two references to it: 1868 octets


def test_integers_round_trip_at_every_prefix() -> None:
    for prefix in range(1, 9):
        for value in [0, 1, (1 << prefix) - 2, (1 << prefix) - 1, 1 << prefix, 127, 1337, 2**32]:
            out = bytearray()
            put_int(out, value, prefix, 0)
            assert read_int(bytes(out), 0, prefix) == (value, len(out))


def test_huffman_decodes_what_hpack_codes() -> None:
    encoder = Encoder()
    for text in [b"", b"a", b"www.example.com", bytes(range(256)), b"no-cache" * 20]:
        assert huffman_decode(encoder.huffman_coder.encode(text)) == text


def test_h2_connections_speak_through_the_codec_and_refuse_a_bad_block() -> None:
    """A client and a server h2 connection, both on our codec, exchange a request, a
    response and trailers; a corrupted header block ends the connection with a GOAWAY."""
    client = H2Wire(H2Connection(H2Configuration(client_side=True, header_encoding=None))).conn
    server = H2Wire(H2Connection(H2Configuration(client_side=False, header_encoding=None))).conn
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    for _ in range(3):
        stream = client.get_next_available_stream_id()
        request = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/svc/Call")]
        request += [(b":authority", b"echo"), (b"te", b"trailers")]
        client.send_headers(stream, request, end_stream=True)
        events = server.receive_data(client.data_to_send())
        received = next(e for e in events if isinstance(e, RequestReceived))
        assert list(received.headers) == request
        server.send_headers(stream, [(b":status", b"200"), (b"content-type", b"x")])
        server.send_headers(stream, [(b"grpc-status", b"0")], end_stream=True)
        events = client.receive_data(server.data_to_send())
        assert [type(e) for e in events if not hasattr(e, "flow_controlled_length")][:2] == [
            ResponseReceived,
            TrailersReceived,
        ]
    stream = client.get_next_available_stream_id()
    bad = b"\x00\x00\x01\x01\x05" + stream.to_bytes(4, "big") + b"\x80"  # HEADERS, index 0
    with pytest.raises(ProtocolError):
        server.receive_data(bad)
    assert server.data_to_send()[3] == 0x07  # GOAWAY


def _request(i: int) -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", b"catalog"),
        (b":path", b"/meshproof.shop.Catalog/Get"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
        (b"traceparent", b"00-%032x-%016x-01" % (i, i)),
        (b"x-request-id", b"req-%d" % i),
        (b"grpc-timeout", b"%dm" % (900 + i)),
    ]


def test_requests_decode_as_sent_and_only_repeating_fields_fill_the_table() -> None:
    """50 requests from a sidecar's client connection to a stock h2 server decode exactly;
    a traceparent crosses as its own bytes (no Huffman coding); the encoder's table holds
    the repeating fields the static table lacks and none of the per-request ones, and a
    repeat request's header block is the per-request literals plus one byte for each of
    the others."""
    wire = H2Wire(H2Connection(h2_config(client_side=True)))
    client, server = wire.conn, H2Connection(h2_config(client_side=False))
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    sizes = []
    for i in range(50):
        stream = client.get_next_available_stream_id()
        client.send_headers(stream, _request(i), end_stream=True)
        sent = client.data_to_send()
        sizes.append(len(sent))
        events = server.receive_data(sent)
        (got,) = [e for e in events if isinstance(e, RequestReceived)]
        assert got.headers == _request(i)
        assert b"00-%032x-%016x-01" % (i, i) in sent
    encoder = client.encoder
    assert isinstance(encoder, FieldEncoder)  # H2Wire put ours in place
    table = encoder._table.entries
    assert sorted(name for name, _ in table) == [b":authority", b":path", b"content-type", b"te"]  # fmt: skip
    per_request = sum(len(n) + len(v) + 3 for n, v in _request(49)[6:])
    assert sizes[-1] == 9 + 6 + per_request  # frame header, six indexed fields, three literals
