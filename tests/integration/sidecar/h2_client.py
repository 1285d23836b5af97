"""A blocking HTTP/2 test client on the h2 library: many streams over one connection.

`H2Client(port)` speaks h2c with prior knowledge (or h2 over TLS with `context`, ALPN h2);
`get_many(requests)` sends them all at once as concurrent streams and reads until every
stream ended or was reset.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    ResponseReceived,
    StreamEnded,
    StreamReset,
    TrailersReceived,
)


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    trailers: dict[str, str] = field(default_factory=dict)
    reset: int | None = None
    ended_at: float = 0.0


class H2Client:
    def __init__(
        self, port: int, context: ssl.SSLContext | None = None, timeout: float = 10.0
    ) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock: socket.socket = context.wrap_socket(raw) if context is not None else raw
        self.conn = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(2**24)
        self.sock.sendall(self.conn.data_to_send())
        self.goaway: ConnectionTerminated | None = None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> H2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, path: str, host: str = "catalog", **kw: object) -> Answer:
        return self.get_many([(path, host)], **kw)[0]  # type: ignore[arg-type]

    def get_many(
        self,
        requests: list[tuple[str, str]],
        method: str = "GET",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        timeout: float = 20.0,
    ) -> list[Answer]:
        """Send every (path, host) as a concurrent stream; the answers in that order."""
        ids = []
        for path, host in requests:
            stream_id = self.conn.get_next_available_stream_id()
            fields = [(":method", method), (":scheme", "http"), (":authority", host)]
            fields += [(":path", path), *(headers or [])]
            self.conn.send_headers(stream_id, fields, end_stream=not body)
            if body:
                self.conn.send_data(stream_id, body, end_stream=True)
            ids.append(stream_id)
        self.sock.sendall(self.conn.data_to_send())
        answers = {i: Answer() for i in ids}
        self.read_until(lambda: all(a.ended_at or a.reset is not None for a in answers.values()),
                        answers, timeout)  # fmt: skip
        return [answers[i] for i in ids]

    def read_until(
        self, done: object, answers: dict[int, Answer] | None = None, timeout: float = 10.0
    ) -> None:
        answers = answers if answers is not None else {}
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:  # type: ignore[operator]
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, ConnectionError):
                return
            if not data:
                return
            for event in self.conn.receive_data(data):
                self._on(event, answers)
            out = self.conn.data_to_send()
            if out:
                self.sock.sendall(out)

    def _on(self, event: object, answers: dict[int, Answer]) -> None:
        answer = answers.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, ResponseReceived) and answer is not None:
            fields = dict(event.headers)
            answer.status = int(fields.pop(":status"))
            answer.headers = fields
        elif isinstance(event, DataReceived) and answer is not None:
            answer.body += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, TrailersReceived) and answer is not None:
            answer.trailers = dict(event.headers)
        elif isinstance(event, StreamEnded) and answer is not None:
            answer.ended_at = time.monotonic()
        elif isinstance(event, StreamReset) and answer is not None:
            answer.reset = event.error_code
        elif isinstance(event, ConnectionTerminated):
            self.goaway = event
