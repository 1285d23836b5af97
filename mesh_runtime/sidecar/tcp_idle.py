"""The idle timeout of a proxied TCP connection (Envoy's tcp_proxy `idle_timeout`, Istio's
`connectionPool.tcp.idleTimeout`): no bytes either way for that long closes both ends.

Cheap on the hot path: each `End` stamps `last_active` (the loop's clock) when a chunk
arrives, nothing else. One timer per joined pair fires after the timeout, looks at the two
stamps and either re-arms for what is left or closes both ends. Bytes a transport writes
out also count (Envoy resets its timer on bytes sent): a write buffer that shrank since the
last look is activity, so a slow reader draining a big reply is not cut. A half-closed
connection keeps its timer (the open direction may idle too); it stops once both ends
are closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mesh_runtime.sidecar.tcp_stream import End


def idle_remaining(last_active: float, drained: bool, now: float, timeout: float) -> float:
    """Seconds until a connection has been idle `timeout` (<= 0: it has): bytes last
    arrived at `last_active`; `drained`: its transports wrote bytes out since the last look."""
    return timeout if drained else last_active + timeout - now


class IdleTimer:
    """Closes a joined pair once neither end moved a byte for `timeout` seconds."""

    def __init__(self, a: End, b: End, timeout: float, on_idle: Callable[[], None]) -> None:
        self._ends = (a, b)
        self._timeout = timeout
        self._on_idle = on_idle
        self._loop = asyncio.get_running_loop()
        self._buffered = _buffered(a) + _buffered(b)
        self._handle: asyncio.TimerHandle | None = self._loop.call_later(timeout, self._check)
        self.fired = False

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        self._handle = None
        a, b = self._ends
        if a.closed.done() and b.closed.done():
            return
        now = self._loop.time()
        buffered = _buffered(a) + _buffered(b)
        drained, self._buffered = buffered < self._buffered, buffered
        left = idle_remaining(max(a.last_active, b.last_active), drained, now, self._timeout)
        if left > 0:
            self._handle = self._loop.call_later(left, self._check)
            return
        self.fired = True
        self._on_idle()
        a.close_idle()
        b.close_idle()


def watch_idle(a: End, b: End, timeout: float, on_idle: Callable[[], None]) -> IdleTimer | None:
    """The idle timer of a joined pair; None when `timeout` is 0 (disabled)."""
    return IdleTimer(a, b, timeout, on_idle) if timeout > 0 else None


def _buffered(end: End) -> int:
    transport = end.transport
    return transport.get_write_buffer_size() if transport is not None else 0
