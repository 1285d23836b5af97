"""Hostile HTTP/2 refused (the deployment: h2mesh.py): each hostile sequence gets a GOAWAY
on either listener, which serves on; refused work never reached the app and no sidecar
logged a traceback (last: it reads the logs of every test before it)."""

from __future__ import annotations

import time

import pytest
from h2_client import H2Client
from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)
from sidecar_mesh import raw_exchange

from tests.integration.security.http2.h2mesh import H2Mesh

pytestmark = pytest.mark.integration


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def block(path: str = "/hostile", stream_id: int = 1, end_stream: bool = True) -> bytes:
    """HEADERS of one GET to catalog."""
    fields = [(":method", "GET"), (":scheme", "http"), (":authority", "catalog"), (":path", path)]
    frame = HeadersFrame(stream_id, Encoder().encode(fields))
    frame.flags.add("END_HEADERS")
    if end_stream:
        frame.flags.add("END_STREAM")
    return frame.serialize()


def hello() -> bytes:
    return PREFACE + SettingsFrame(0).serialize()


def rapid_reset() -> bytes:
    frames = [hello()]
    for i in range(400):
        frames += [block(f"/hostile/{i}", 1 + 2 * i), RstStreamFrame(1 + 2 * i, error_code=8).serialize()]  # fmt: skip
    return b"".join(frames)


def continuation_flood() -> bytes:
    start = HeadersFrame(1, Encoder().encode([(":method", "GET"), (":path", "/hostile")]))
    frames = [hello(), start.serialize()]
    frames += [ContinuationFrame(1, b"\x40\x01a\x01b" * 300).serialize() for _ in range(100)]
    return b"".join(frames)


def hpack_bomb() -> bytes:
    encoder = Encoder()
    fields = [(":method", "GET"), (":scheme", "http"), (":authority", "catalog")]
    fields += [(":path", "/hostile"), ("x-bomb", "a" * 4000)]
    data = encoder.encode(fields) + b"\xbe" * 200  # 200 more references to x-bomb (index 62)
    frame = HeadersFrame(1, data)
    frame.flags.add("END_HEADERS")
    frame.flags.add("END_STREAM")
    return hello() + frame.serialize()


def oversized_frame() -> bytes:
    header = (20000).to_bytes(3, "big") + b"\x00\x00" + (1).to_bytes(4, "big")
    return hello() + block(end_stream=False) + header + b"d" * 20000


def stream_id_reuse() -> bytes:
    return hello() + block("/reuse/first", 3) + block("/reuse/again", 1)


HOSTILE: dict[str, tuple[bytes, int]] = {
    "bad preface": (b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + SettingsFrame(0).serialize(), 0x1),
    "rapid reset": (rapid_reset(), 0xB),
    "CONTINUATION flood": (continuation_flood(), 0x1),
    "HPACK bomb": (hpack_bomb(), 0xB),
    "SETTINGS flood": (hello() + SettingsFrame(0).serialize() * 200, 0xB),
    "PING flood": (hello() + PingFrame(0, b"12345678").serialize() * 200, 0xB),
    "oversized frame": (oversized_frame(), 0x6),
    "stream-ID reuse": (stream_id_reuse(), 0x1),
}


def goaways_of(data: bytes) -> list[GoAwayFrame]:
    """The GOAWAY frames among the frames the server sent (after nothing, or its preface)."""
    found = []
    offset = 0
    while offset + 9 <= len(data):
        frame, length = Frame.parse_frame_header(memoryview(data[offset : offset + 9]))
        frame.parse_body(memoryview(data[offset + 9 : offset + 9 + length]))
        if isinstance(frame, GoAwayFrame):
            found.append(frame)
        offset += 9 + length
    return found


@pytest.mark.parametrize("listener", ["outbound", "inbound"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_http2_is_refused_and_the_listener_serves_on(
    mesh: H2Mesh, listener: str, name: str
) -> None:
    """Each hostile sequence gets one GOAWAY with its error code and the connection
    closed; a well-formed request on a new connection then succeeds."""
    data, code = HOSTILE[name]
    start = time.monotonic()
    answer = raw_exchange(mesh.port(listener), data, timeout=5.0)
    closed = time.monotonic() - start < 4.0  # read until the sidecar closed, not the timeout
    goaways = goaways_of(answer)
    assert len(goaways) == 1, (answer[:200], goaways)
    assert goaways[0].error_code == code, goaways[0].additional_data
    assert closed
    with H2Client(mesh.port(listener)) as client:
        assert client.request("/after").status == 200


def test_refused_work_never_reached_the_app_and_nothing_crashed(mesh: H2Mesh) -> None:
    """Of the 800 streams the rapid resets opened, few (if any) reached the app (a stream
    is cancelled when its reset is read; only ones served from an earlier read went on),
    none of the other hostile requests did, and no sidecar logged a traceback."""
    assert mesh.app_count()["hostile"] < 80
    log = mesh.frontend.proc.output() + mesh.catalog.proc.output()
    assert "Traceback" not in log
