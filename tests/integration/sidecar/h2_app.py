"""An HTTP/2-only upstream app for the sidecar's HTTP/2 tests (asyncio + the h2 library).

`python h2_app.py --port P [--instance NAME]` (h2c, prior knowledge; a client that does not
open with the HTTP/2 preface gets one HTTP/1.1 answer `http/1.1 <path>` and a close). Paths:
- `/bytes/N`: N bytes of body; `/delay/MS`: answer after MS ms;
- `/grpc/CODE`: a gRPC answer: one message, then trailers `grpc-status: CODE`;
- `/grpc-only/CODE`: a trailers-only gRPC answer (`grpc-status` in the one HEADERS);
- `/_count`: {"requests": N, "connections": C, "hostile": H} (requests seen, `/_count`
  excluded; HTTP/2 connections accepted; requests for paths under `/hostile`);
- anything else: JSON {"instance", "path", "method", "body_bytes", "headers"}.
Every answer carries `x-instance`. Bodies are sent within the client's flow-control window.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import DataReceived, RequestReceived, StreamEnded, WindowUpdated
from h2.settings import SettingCodes, Settings

PREFACE = b"PRI * HTTP/2.0"


class App:
    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.requests = 0
        self.connections = 0
        self.hostile = 0


class H2AppProtocol(asyncio.Protocol):
    def __init__(self, app: App) -> None:
        self.app = app
        self.conn = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.window = asyncio.Event()
        self.started = False
        self.http1 = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def start_h2(self) -> None:
        self.started = True
        self.app.connections += 1
        self.conn.local_settings = Settings(
            client=False, initial_values={SettingCodes.MAX_CONCURRENT_STREAMS: 1000}
        )
        self.conn.initiate_connection()
        self.flush()

    def answer_http1(self, data: bytes) -> None:
        self.http1 += data
        if b"\r\n\r\n" not in self.http1 or self.transport is None:
            return
        path = self.http1.split(b" ")[1]
        body = b"http/1.1 " + path
        head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n" % len(body)
        self.transport.write(
            head + b"x-instance: " + self.app.instance.encode() + b"\r\n\r\n" + body
        )
        self.transport.close()

    def flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        if not self.started:
            if not (self.http1 + data).startswith(PREFACE[: len(self.http1 + data)]):
                self.answer_http1(data)
                return
            self.start_h2()
        for event in self.conn.receive_data(data):
            if isinstance(event, RequestReceived):
                self.streams[event.stream_id] = (dict(event.headers), bytearray())
            elif isinstance(event, DataReceived):
                self.streams[event.stream_id][1].extend(event.data)
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                headers, body = self.streams.pop(event.stream_id)
                asyncio.get_running_loop().create_task(self.answer(event.stream_id, headers, body))
            elif isinstance(event, WindowUpdated):
                self.window.set()
        self.flush()

    async def answer(self, stream_id: int, headers: dict[str, str], body: bytearray) -> None:
        path = headers[":path"]
        if path != "/_count":
            self.app.requests += 1
            self.app.hostile += path.startswith("/hostile")
        base = [("x-instance", self.app.instance)]
        parts = path.strip("/").split("/")
        if parts[0] == "delay":
            await asyncio.sleep(int(parts[1]) / 1000)
        if parts[0] == "grpc-only":
            self.conn.send_headers(
                stream_id,
                [(":status", "200"), ("content-type", "application/grpc"), *base,
                 ("grpc-status", parts[1]), ("grpc-message", "from the app")],
                end_stream=True,
            )  # fmt: skip
            self.flush()
            return
        if parts[0] == "grpc":
            message = b"\x00\x00\x00\x00\x02hi"
            self.conn.send_headers(
                stream_id, [(":status", "200"), ("content-type", "application/grpc"), *base]
            )
            await self.send(stream_id, message, end=False)
            self.conn.send_headers(stream_id, [("grpc-status", parts[1])], end_stream=True)
            self.flush()
            return
        if parts[0] == "bytes":
            data = b"x" * int(parts[1])
        elif parts[0] == "_count":
            data = json.dumps(
                {
                    "requests": self.app.requests,
                    "connections": self.app.connections,
                    "hostile": self.app.hostile,
                }
            ).encode()
        else:
            seen = {k: v for k, v in headers.items() if not k.startswith(":")}
            data = json.dumps(
                {
                    "instance": self.app.instance,
                    "path": path,
                    "method": headers[":method"],
                    "body_bytes": len(body),
                    "headers": seen,
                }
            ).encode()
        self.conn.send_headers(stream_id, [(":status", "200"), *base])
        await self.send(stream_id, data, end=True)

    async def send(self, stream_id: int, data: bytes, end: bool) -> None:
        while data:
            size = min(
                self.conn.local_flow_control_window(stream_id),
                self.conn.max_outbound_frame_size,
                len(data),
            )
            if size <= 0:
                self.window.clear()
                await self.window.wait()
                continue
            self.conn.send_data(stream_id, data[:size], end_stream=end and size == len(data))
            data = data[size:]
            self.flush()
        if end and not data:
            self.flush()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--instance", default="h2app-0")
    args = parser.parse_args()
    app = App(args.instance)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: H2AppProtocol(app), "127.0.0.1", args.port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
