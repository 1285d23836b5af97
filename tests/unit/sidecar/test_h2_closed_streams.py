"""The sidecar's HTTP/2 connections remember a bounded number of closed streams."""

from __future__ import annotations

from h2.connection import H2Connection
from h2.events import ConnectionTerminated, StreamReset
from hyperframe.frame import WindowUpdateFrame

from mesh_runtime.sidecar.h2_conn import CLOSED_STREAMS_KEPT, MeshH2Connection
from mesh_runtime.sidecar.h2_wire import h2_config

REQUEST = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/p"), (b":authority", b"a")]


def exchanges(client: H2Connection, server: H2Connection, number: int) -> int:
    """`number` requests answered one after another on one connection; the last stream."""
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    stream_id = 0
    for _ in range(number):
        stream_id = client.get_next_available_stream_id()
        client.send_headers(stream_id, REQUEST, end_stream=True)
        server.receive_data(client.data_to_send())
        server.send_headers(stream_id, [(b":status", b"200")], end_stream=True)
        client.receive_data(server.data_to_send())
    return stream_id


def test_a_long_lived_connection_keeps_only_the_recent_closed_streams() -> None:
    """3000 calls on one connection: both ends remember at most CLOSED_STREAMS_KEPT
    closed streams (h2 as it comes keeps all 3000, up to 65 536)."""
    client = MeshH2Connection(h2_config(client_side=True))
    server = MeshH2Connection(h2_config(client_side=False))
    exchanges(client, server, 3000)
    assert len(server._closed_streams) == CLOSED_STREAMS_KEPT
    assert len(client._closed_streams) == CLOSED_STREAMS_KEPT
    plain_client, plain_server = H2Connection(h2_config(True)), H2Connection(h2_config(False))
    exchanges(plain_client, plain_server, 3000)
    assert len(plain_server._closed_streams) > 2 * CLOSED_STREAMS_KEPT


def test_a_late_frame_for_a_recently_closed_stream_is_still_recognised() -> None:
    """A WINDOW_UPDATE crossing the answer's END_STREAM is ignored, not answered with a
    reset or a GOAWAY."""
    client = MeshH2Connection(h2_config(client_side=True))
    server = MeshH2Connection(h2_config(client_side=False))
    last = exchanges(client, server, 2000)
    late = WindowUpdateFrame(last)
    late.window_increment = 1024
    events = server.receive_data(late.serialize())
    assert not any(isinstance(e, (StreamReset, ConnectionTerminated)) for e in events)
    assert server.data_to_send() == b""
