"""A bounded fuzz of HTTP/2 frame sequences against the server protocol (no sockets): any
sequence is either served or refused with a GOAWAY and a close, never an escaped error."""

from __future__ import annotations

import asyncio
from typing import Any

from hpack import Encoder
from hyperframe.frame import SettingsFrame
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_runtime.sidecar.http1 import Downstream, Request, Response
from mesh_runtime.sidecar.http2 import PREFACE, H2ServerProtocol
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.server_connections import ConnectionRegistry


class FakeTransport:
    """Collects what the protocol writes; closing is remembered."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


async def echo(request: Request) -> Response:
    return Response(200, [], request.body or b"ok")


def headers_block(path: str) -> bytes:
    fields = [(":method", "POST"), (":scheme", "http"), (":authority", "catalog")]
    return Encoder().encode([*fields, (":path", path)])


stream_ids = st.sampled_from([0, 1, 2, 3, 5, 7, 2**31 - 1])
payloads = st.one_of(
    st.just(headers_block("/fuzz")),
    st.binary(max_size=40),
    st.binary(min_size=4, max_size=4),
    st.binary(min_size=8, max_size=8),
    st.just(b"\x00\x04\x00\x00\xff\xff"),  # SETTINGS_INITIAL_WINDOW_SIZE 65535
)
frames = st.one_of(
    st.builds(
        lambda kind, flags, stream_id, payload: raw_frame(kind, flags, stream_id, payload),
        st.sampled_from([0, 1, 2, 3, 4, 6, 7, 8, 9, 0x0A]),
        st.sampled_from([0, 0x1, 0x4, 0x5, 0x8, 0x20, 0xFF]),
        stream_ids,
        payloads,
    ),
    st.binary(min_size=1, max_size=32),
)


def raw_frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    """A frame as bytes, however wrong its type, flags, stream and payload are together."""
    head = len(payload).to_bytes(3, "big") + bytes([kind, flags])
    return head + stream_id.to_bytes(4, "big") + payload


@settings(max_examples=150, deadline=None)
@given(st.lists(frames, max_size=12), st.integers(1, 40))
def test_any_frame_sequence_is_served_or_refused(sequence: list[bytes], split: int) -> None:
    """Whatever frames follow the preface, in whatever read sizes, the protocol raises
    nothing; when it closes the connection it has said GOAWAY first."""

    async def main() -> tuple[bool, bytes]:
        transport = FakeTransport()
        registry = ConnectionRegistry()
        protocol = H2ServerProtocol(echo, registry, HttpLimits(), None, Downstream())
        data = PREFACE + SettingsFrame(0).serialize() + b"".join(sequence)
        protocol.take_over(transport, b"")  # type: ignore[arg-type]
        for start in range(0, len(data), split):
            protocol.data_received(data[start : start + split])
        for _ in range(5):
            await asyncio.sleep(0)
        return transport.closed, bytes(transport.written)

    closed, written = asyncio.run(main())
    if closed:
        assert b"\x07\x00\x00\x00\x00\x00" in written  # a GOAWAY frame header on stream 0
