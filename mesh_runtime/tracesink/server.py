"""The OTLP/HTTP trace receiver (aiohttp): `POST /v1/traces` -> JSON lines on disk.

POST /v1/traces   application/x-protobuf or application/json (gzip / deflate: mesh_runtime/content_encoding.py)
GET  /ready       200
GET  /stats       {"spans", "requests", "rejected", "rejected_spans",
                  "forward": null | the forwarder's counts}

An export whose spans all have valid ids is answered an empty ExportTraceServiceResponse
(`{}` in JSON); spans with invalid ids (of the wrong length, or all zero: decode.py) are
not stored, and the answer (200) is OTLP's partial success: `rejected_spans` and an
`error_message` saying why. A parent_span_id of 8 zero bytes (OTLP's "no id") is stored
and forwarded as none: the span is a root.
GET  /spans       the spans file as it is (JSON lines; empty before the first span): how a
                  harness reads the spans of a sink that runs elsewhere (a pod)
PUT  /forward     {"url": OTLP/HTTP URL, "attributes": {"meshproof.run.id": ...}}: from now on
                  every span received is also sent on there (see forward.py); 400 bad body
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import IO, Any

from aiohttp import web
from google.protobuf import json_format
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from mesh_runtime.content_encoding import ENCODINGS, TooLarge, Undecodable, undo_encoding
from mesh_runtime.tracesink.decode import (
    BadExport,
    Lines,
    compact_json,
    drop_invalid_spans,
    lines_from_protobuf,
    request_from_json,
    request_from_protobuf,
    spans_from_request,
)
from mesh_runtime.tracesink.forward import BadForwardUrl, Forwarder, forward_url

log = logging.getLogger("meshproof.tracesink")

MAX_BODY_BYTES = 64 * 1024 * 1024
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_EMPTY_EXPORT_RESPONSE = ExportTraceServiceResponse().SerializeToString()


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
        self.write_lines("".join([compact_json(s) + "\n" for s in spans]), len(spans))

    def write_lines(self, lines: str, spans: int) -> None:
        """`spans` records already as the file's JSON lines (`lines_from_protobuf`)."""
        if not spans:
            return
        assert self._file is not None, "SpanWriter.open() was not called"
        self._file.write(lines.encode())
        self._file.flush()
        self.spans += spans

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TraceSink:
    """Request handlers over one SpanWriter."""

    def __init__(self, writer: SpanWriter, forwarder: Forwarder | None = None) -> None:
        self._writer = writer
        self._requests = 0
        self._rejected = 0
        self._rejected_spans = 0
        self._forwarder = forwarder
        self._sender: asyncio.Task[None] | None = None

    def app(self) -> web.Application:
        # bodies are decoded by `content_encoding.undo_encoding`, capped, not in aiohttp's parser
        app = web.Application(
            client_max_size=MAX_BODY_BYTES, handler_args={"auto_decompress": False}
        )
        app.router.add_post("/v1/traces", self.export)
        app.router.add_get("/ready", self.ready)
        app.router.add_get("/stats", self.stats)
        app.router.add_get("/spans", self.spans)
        app.router.add_put("/forward", self.forward)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def ready(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    async def stats(self, request: web.Request) -> web.Response:
        forward = self._forwarder.stats() if self._forwarder else None
        return web.json_response(
            {
                "spans": self._writer.spans,
                "requests": self._requests,
                "rejected": self._rejected,
                "rejected_spans": self._rejected_spans,
                "forward": forward,
            }
        )

    async def spans(self, request: web.Request) -> web.StreamResponse:
        if not self._writer.path.exists():
            return web.Response(body=b"", content_type="application/x-ndjson")
        return web.FileResponse(self._writer.path, headers={"Content-Type": "application/x-ndjson"})

    async def forward(self, request: web.Request) -> web.Response:
        """Start (or replace) the forwarder: {"url", "attributes": {str: str}}."""
        try:
            body = await request.json()
            url = forward_url(str(body["url"]))
            attributes = body.get("attributes") or {}
            if not isinstance(attributes, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
            ):
                raise BadForwardUrl("attributes: expected an object of strings")
        except (ValueError, KeyError, TypeError, RecursionError, web.RequestPayloadError) as exc:
            return web.json_response({"error": f"expected {{url, attributes}}: {exc}"}, status=400)
        await self._stop_sender()
        self._forwarder = Forwarder(url, attributes)
        self._start_sender()
        return web.json_response(self._forwarder.stats())

    async def export(self, request: web.Request) -> web.Response:
        content_type = request.content_type
        if content_type not in (PROTOBUF, JSON):
            self._rejected += 1
            return _error(415, f"unsupported content type {content_type!r}", JSON)
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ENCODINGS:
            self._rejected += 1
            return _error(415, f"unsupported content encoding {encoding!r}", content_type)
        try:
            body = undo_encoding(await request.read(), encoding, MAX_BODY_BYTES)
        except (web.RequestPayloadError, Undecodable) as exc:  # a broken stream, not gzip
            self._rejected += 1
            why = " ".join(str(exc).split())  # aiohttp's message spans lines
            return _error(400, f"body: cannot read it: {why}", content_type)
        except TooLarge as exc:
            self._rejected += 1
            return _error(413, f"body: {exc}", content_type)
        try:
            decoded: ExportTraceServiceRequest | None = None
            if content_type == JSON:
                decoded = request_from_json(body)
                rejected, problem = drop_invalid_spans(decoded)
                records = spans_from_request(decoded)
                text = "".join([compact_json(r) + "\n" for r in records])
                lines = Lines(text, len(records), rejected, problem)
            else:
                lines = lines_from_protobuf(body)
                if self._forwarder is not None:  # the forwarder sends the request's messages
                    decoded = request_from_protobuf(body)
                    if lines.rejected or lines.zero_parents:  # sent on as they were stored
                        drop_invalid_spans(decoded)
        except BadExport as exc:
            self._rejected += 1
            return _error(400, str(exc), content_type)
        self._writer.write_lines(lines.text, lines.spans)
        self._requests += 1
        self._rejected_spans += lines.rejected
        if self._forwarder is not None and decoded is not None:
            self._forwarder.offer(decoded)
        return _export_answer(lines, content_type)

    async def _open(self, app: web.Application) -> None:
        self._writer.open()
        self._start_sender()

    async def _close(self, app: web.Application) -> None:
        await self._stop_sender()
        self._writer.close()
        log.info("trace sink closed after %d spans", self._writer.spans)

    def _start_sender(self) -> None:
        if self._forwarder is not None:
            self._sender = asyncio.get_running_loop().create_task(self._forwarder.run())

    async def _stop_sender(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None


def _export_answer(lines: Lines, content_type: str) -> web.Response:
    """200: empty when every span was stored, else OTLP's partial success naming the spans
    left out and why (the client must not retry them)."""
    if not lines.rejected:
        if content_type == PROTOBUF:
            return web.Response(body=_EMPTY_EXPORT_RESPONSE, content_type=PROTOBUF)
        return web.Response(body=b"{}", content_type=JSON)
    partial = ExportTracePartialSuccess(rejected_spans=lines.rejected, error_message=lines.problem)
    answer = ExportTraceServiceResponse(partial_success=partial)
    if content_type == PROTOBUF:
        return web.Response(body=answer.SerializeToString(), content_type=PROTOBUF)
    return web.json_response(json_format.MessageToDict(answer))


def _error(status: int, message: str, content_type: str) -> web.Response:
    # OTLP/HTTP answers errors with a google.rpc.Status; its message field is what clients log
    if content_type == PROTOBUF:
        body = RpcStatus(code=3, message=message).SerializeToString()
        return web.Response(status=status, body=body, content_type=PROTOBUF)
    return web.json_response({"code": 3, "message": message}, status=status)
