"""The OTLP/HTTP trace receiver (aiohttp): `POST /v1/traces` -> JSON lines on disk.

POST /v1/traces   application/x-protobuf or application/json (gzip is undone by aiohttp)
GET  /ready       200
GET  /stats       {"spans", "requests", "rejected"}
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Any

from aiohttp import web
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from mesh_runtime.tracesink.decode import (
    BadExport,
    request_from_json,
    request_from_protobuf,
    spans_from_request,
)

log = logging.getLogger("meshproof.tracesink")

MAX_BODY_BYTES = 64 * 1024 * 1024
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class SpanWriter:
    """Appends span records as JSON lines; each batch is flushed so readers see it at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self.spans = 0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")

    def write(self, spans: list[dict[str, Any]]) -> None:
        if not spans:
            return
        assert self._file is not None, "SpanWriter.open() was not called"
        lines = "".join(json.dumps(s, separators=(",", ":")) + "\n" for s in spans)
        self._file.write(lines.encode())
        self._file.flush()
        self.spans += len(spans)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TraceSink:
    """Request handlers over one SpanWriter."""

    def __init__(self, writer: SpanWriter) -> None:
        self._writer = writer
        self._requests = 0
        self._rejected = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/v1/traces", self.export)
        app.router.add_get("/ready", self.ready)
        app.router.add_get("/stats", self.stats)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def ready(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"spans": self._writer.spans, "requests": self._requests, "rejected": self._rejected}
        )

    async def export(self, request: web.Request) -> web.Response:
        content_type = request.content_type
        if content_type not in (PROTOBUF, JSON):
            self._rejected += 1
            return _error(415, f"unsupported content type {content_type!r}", JSON)
        try:
            # aiohttp has already undone a gzip / deflate Content-Encoding
            body = await request.read()
            decode = request_from_protobuf if content_type == PROTOBUF else request_from_json
            spans = spans_from_request(decode(body))
        except BadExport as exc:
            self._rejected += 1
            return _error(400, str(exc), content_type)
        self._writer.write(spans)
        self._requests += 1
        if content_type == PROTOBUF:
            return web.Response(
                body=ExportTraceServiceResponse().SerializeToString(), content_type=PROTOBUF
            )
        return web.Response(body=b"{}", content_type=JSON)

    async def _open(self, app: web.Application) -> None:
        self._writer.open()

    async def _close(self, app: web.Application) -> None:
        self._writer.close()
        log.info("trace sink closed after %d spans", self._writer.spans)


def _error(status: int, message: str, content_type: str) -> web.Response:
    # OTLP/HTTP answers errors with a google.rpc.Status; its message field is what clients log
    if content_type == PROTOBUF:
        body = RpcStatus(code=3, message=message).SerializeToString()
        return web.Response(status=status, body=body, content_type=PROTOBUF)
    return web.json_response({"code": 3, "message": message}, status=status)
