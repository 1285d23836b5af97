"""The sidecar's HPACK encoder: plain literals, once-only fields kept out of the table."""

from __future__ import annotations

from h2.connection import H2Connection
from h2.events import RequestReceived

from mesh_runtime.sidecar.h2_wire import H2Wire, h2_config


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
    table = client.encoder.header_table.dynamic_entries
    assert sorted(name for name, _ in table) == [b":authority", b":path", b"content-type", b"te"]  # fmt: skip
    per_request = sum(len(n) + len(v) + 3 for n, v in _request(49)[6:])
    assert sizes[-1] == 9 + 6 + per_request  # frame header, six indexed fields, three literals
