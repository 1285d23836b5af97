"""OTLP/HTTP span export from the event loop, in small batches, with no thread.

Spans are encoded as they end (`SpanEncoder.span`) and queued as bytes. The export task
wakes `interval_s` after the first span queued (none queued: it sleeps without a timer,
so an idle sidecar's loop is not woken five times a second for nothing), or as soon as
`batch_size` spans are queued, and POSTs them
(`application/x-protobuf`) in requests of at most `batch_size` spans: many small exports
rather than one large one a second, so no single step holds the loop for long. An export
that fails (sink down, 5xx, 408, 429) goes back to the front of the queue and is tried
again after a capped backoff; one refused for good (another 4xx) is dropped; beyond `max_queue` spans new ones are dropped and counted, as the
SDK's batch processor does. `shutdown` sends what is left, within a deadline; `flush`
(the admin API's, on demand) wakes the export task and returns once every span queued
before it was sent: the sink answers an export after writing it, so a harness that flushed
every producer knows the sink holds every span that ended before it asked.

Exports to a plain http endpoint go over one kept-alive connection (the sidecar's own
upstream connection, `endpoint_pool.EndpointPool`), opened again when the sink closed it:
a fresh connection per export cost the sidecar a connect, a close and asyncio streams'
setup several times a second. An https endpoint gets a fresh connection per export.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any, Final
from urllib.parse import urlsplit

from mesh_runtime.errors import InvalidInput
from mesh_runtime.otlp import retryable
from mesh_runtime.sidecar.endpoint_pool import EndpointPool
from mesh_runtime.sidecar.http1 import ConnectionClosed
from mesh_runtime.sidecar.http_client import ExchangeError, request_head, request_once
from mesh_runtime.sidecar.telemetry.otlp import SpanEncoder
from mesh_runtime.sidecar.telemetry.tracing import ProxySpan
from mesh_runtime.sidecar.upstream import AttemptError, UpstreamReset

log = logging.getLogger(__name__)

BACKOFF_MAX_S: Final = 5.0


class SpanExporter:
    """Queue of encoded spans and the task that sends them to one OTLP/HTTP endpoint."""

    def __init__(
        self,
        url: str,
        encoder: SpanEncoder,
        *,
        batch_size: int = 256,
        interval_s: float = 0.2,
        max_queue: int = 16384,
        timeout_s: float = 5.0,
    ) -> None:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise InvalidInput(
                "--otlp-endpoint", "", f"expected http://HOST:PORT/PATH, got {url!r}"
            )
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = port or (443 if self._tls else 80)
        self._path = parts.path or "/v1/traces"
        self._pool = EndpointPool(self._host, self._port)
        """The kept-alive connection of plain http exports (idle between exports)."""
        self._encoder = encoder
        self._batch_size = batch_size
        self._interval = interval_s
        self._max_queue = max_queue
        self._timeout = timeout_s
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        """Set to send at once: a full batch, a flush, the shutdown."""
        self._idle: asyncio.Future[None] | None = None
        """What the export task awaits while nothing is queued (no timer), done by the
        first span queued, a flush or the shutdown."""
        self._closing = False
        self._failures = 0
        self._flushes = 0
        """Flushes asked for; a pass of the export task begun after the n-th empties the
        queue of every span queued before it."""
        self._flushed = 0
        """The flushes asked for before the last pass that left the queue empty began."""
        self._pass_done = asyncio.Event()
        self.exported = 0
        self.exports = 0
        self.dropped = 0
        self.failed_exports = 0
        self.connections = 0
        """Connections opened to the endpoint (one for many exports while it keeps them)."""

    @property
    def queued(self) -> int:
        return len(self._queue)

    def add(self, span: ProxySpan) -> None:
        """Encode an ended span and queue it (dropped and counted when the queue is full)."""
        if len(self._queue) >= self._max_queue:
            self.dropped += 1
            return
        self._queue.append(self._encoder.span(span))
        if len(self._queue) >= self._batch_size and not self._failures:
            # After a failed export the backoff decides when to try again: a full batch
            # that woke the task each span was a connect attempt per request.
            self._wake.set()
        self._end_idle()

    def _end_idle(self) -> None:
        idle = self._idle
        if idle is not None:
            self._idle = None
            if not idle.done():
                idle.set_result(None)

    async def run(self) -> None:
        """Until `shutdown`: wait for a first span, then for a batch or the interval, then
        send what is queued."""
        loop = asyncio.get_running_loop()
        try:
            while not self._closing:
                if not self._queue and not self._failures and not self._wake.is_set():
                    # Nothing to send: wait without a timer (the interval's timer woke an
                    # idle sidecar's loop every 200 ms, four getpid calls each time).
                    self._idle = idle = loop.create_future()
                    await idle
                    continue
                delay = self._interval if not self._failures else self._backoff()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                self._wake.clear()
                asked = self._flushes
                if await self.send_queued():
                    self._flushed = asked
                elif self._flushes == asked and not self._closing:
                    self._wake.clear()  # a batch filled during the failed pass: the backoff
                self._pass_done.set()
                self._pass_done = asyncio.Event()
        finally:
            self._pool.close_all()

    async def send_queued(self) -> bool:
        """Send the spans queued when it began, batch by batch; False when an export is to
        be tried again (its batch is back at the front of the queue). Spans that end
        during the pass wait for the next one (the interval, or a full batch): sending
        them at once made an export of the few that ended during each POST, about 1.6
        exports an interval at 500 RPS where one would do."""
        left = len(self._queue)
        while left > 0 and self._queue:
            size = min(self._batch_size, left, len(self._queue))
            left -= size
            batch = [self._queue.popleft() for _ in range(size)]
            try:
                sent = await self._send(batch)
            except asyncio.CancelledError:
                self.dropped += len(batch)  # cut mid-export: it may or may not have arrived
                raise
            if not sent:
                room = self._max_queue - len(self._queue)
                self.dropped += max(0, len(batch) - room)
                self._queue.extendleft(reversed(batch[:room]))
                return False
        return True

    async def flush(self, timeout_s: float) -> bool:
        """Have the export task (`run`) send every span queued so far, now; True once they
        are all sent (or refused for good), False when that took longer than `timeout_s`
        (the endpoint is down: they stay queued) or the exporter is shutting down."""
        self._flushes += 1
        wanted = self._flushes
        self._wake.set()
        self._end_idle()
        try:
            async with asyncio.timeout(timeout_s):
                while self._flushed < wanted and not self._closing:
                    await self._pass_done.wait()
        except TimeoutError:
            return False
        return self._flushed >= wanted

    async def shutdown(self, timeout_s: float, runner: asyncio.Task[None] | None = None) -> None:
        """Stop `runner` (the task running `run`) after the export it is in, never in the
        middle of one (a cut export might be sent twice), then send what is left; after
        `timeout_s` what is unsent is dropped."""
        self._closing = True
        self._wake.set()
        self._end_idle()
        try:
            async with asyncio.timeout(timeout_s):
                if runner is not None:
                    await runner
                while self._queue:
                    if not await self.send_queued():
                        await asyncio.sleep(min(self._backoff(), 0.5))
        except TimeoutError:
            pass
        finally:
            if runner is not None and not runner.done():
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
        self.dropped += len(self._queue)
        self._queue.clear()
        self._pool.close_all()

    def summary(self) -> dict[str, Any]:
        return {
            "exported": self.exported,
            "exports": self.exports,
            "queued": len(self._queue),
            "dropped": self.dropped,
            "failed_exports": self.failed_exports,
            "connections": self.connections,
        }

    async def _send(self, batch: list[bytes]) -> bool:
        """Export one batch: True when it is done with (sent, or refused for good)."""
        body = self._encoder.request(batch)
        headers = {"content-type": "application/x-protobuf", "content-length": str(len(body))}
        try:
            if self._tls:
                head = request_head("POST", self._host, self._port, self._path, headers)
                self.connections += 1
                status, _ = await request_once(
                    self._host, self._port, head + body, self._timeout, tls=True
                )
            else:
                status = await self._post(headers, body)
        except ExchangeError as exc:
            return self._failed(f"OTLP endpoint {self._host}:{self._port} {exc}")
        if not 200 <= status < 300 and not retryable(status):
            self.failed_exports += 1
            self.dropped += len(batch)
            log.warning(
                "OTLP endpoint answered %d to an export; %d spans dropped", status, len(batch)
            )
            return True
        if not 200 <= status < 300:
            return self._failed(f"OTLP endpoint answered {status} to an export")
        if self._failures:
            log.warning("OTLP endpoint reachable again after %d failures", self._failures)
            self._failures = 0
        self.exported += len(batch)
        self.exports += 1
        return True

    async def _post(self, headers: dict[str, str], body: bytes) -> int:
        """POST on the kept connection (a new one when there is none, or when the kept one
        turns out closed before any byte of the answer); the answer's status."""
        head = request_head("POST", self._host, self._port, self._path, headers, keep_alive=True)
        try:
            async with asyncio.timeout(self._timeout):
                for fresh in (False, True):
                    conn = None if fresh else self._pool.take_idle()
                    reused = conn is not None
                    if conn is None:
                        self.connections += 1
                        conn = await self._pool.connect(self._timeout)
                    try:
                        response = await conn.send(head, body, False)
                    except UpstreamReset as reset:
                        # Its own name: compiled (mypyc), a name bound by two `except ... as`
                        # clauses takes the first one's type, and the ConnectFailure caught
                        # below then raised TypeError, which ended the export task for good.
                        if not (reused and reset.before_any_byte):
                            raise
                        continue
                    try:
                        await response.read_body()  # complete: the connection goes idle
                    except BaseException:
                        response.discard()
                        raise
                    return response.status
        except TimeoutError:
            raise ExchangeError("did not answer in time") from None
        except (AttemptError, ConnectionClosed) as exc:
            raise ExchangeError(str(exc)) from None
        raise AssertionError("unreachable")

    def _failed(self, message: str) -> bool:
        self._failures += 1
        self.failed_exports += 1
        if self._failures == 1 or self._failures % 20 == 0:
            log.warning("%s; keeping %d spans to send again", message, len(self._queue))
        return False

    def _backoff(self) -> float:
        return min(BACKOFF_MAX_S, self._interval * 2 ** min(self._failures, 6))
