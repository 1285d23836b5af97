"""The L4 idle timeout's decision and timer, without sockets."""

from __future__ import annotations

import asyncio
from typing import Any

from mesh_runtime.sidecar.tcp_idle import idle_remaining, watch_idle
from mesh_runtime.sidecar.tcp_stream import End, join


class QuietTransport(asyncio.Transport):
    """A transport that records how it was closed and buffers `buffered` bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.aborted = False
        self.closed = False
        self.buffered = 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: Any) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.aborted or self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


def test_the_remaining_time_runs_from_the_last_bytes() -> None:
    """Bytes at t=10 with a 5 s timeout: at t=12, 3 s are left; at t=15 none."""
    assert idle_remaining(10.0, False, 12.0, 5.0) == 3.0
    assert idle_remaining(10.0, False, 15.0, 5.0) <= 0


def test_bytes_written_out_since_the_last_look_restart_the_clock() -> None:
    """A write buffer that drained means bytes were sent: a full timeout is left."""
    assert idle_remaining(0.0, True, 100.0, 5.0) == 5.0


def test_zero_sets_no_timer() -> None:
    """idleTimeout 0 disables the timeout: no timer is made."""

    async def run() -> None:
        a, b = End(), End()
        assert watch_idle(a, b, 0.0, lambda: None) is None

    asyncio.run(run())


def joined_pair() -> tuple[End, End, QuietTransport, QuietTransport]:
    """Two connected ends joined back to back, on transports that only record (in a loop)."""
    a, b = End(), End()
    ta, tb = QuietTransport(), QuietTransport()
    a.connection_made(ta)
    b.connection_made(tb)
    join(a, b)
    return a, b, ta, tb


def test_an_idle_pair_is_closed_both_ends_once_and_passes_no_reset() -> None:
    """No bytes for the timeout: on_idle once, both transports aborted (a FIN, not the
    SO_LINGER reset of End.abort), and neither end resets the other."""

    async def run() -> None:
        a, b, ta, tb = joined_pair()
        idle = asyncio.get_running_loop().create_future()
        timer = watch_idle(a, b, 0.01, lambda: idle.set_result(None))
        assert timer is not None
        await asyncio.wait_for(idle, 5.0)
        assert ta.aborted and tb.aborted and timer.fired
        assert a.peer is None and b.peer is None
        a.connection_lost(None)
        b.connection_lost(None)
        assert a.closed.done() and b.closed.done()

    asyncio.run(run())


def test_a_half_closed_pair_keeps_its_timer() -> None:
    """One direction ended (EOF read on `a`): the other may still idle, so the timer still
    closes the pair."""

    async def run() -> None:
        a, b, ta, tb = joined_pair()
        a.eof_received()
        idle = asyncio.get_running_loop().create_future()
        watch_idle(a, b, 0.01, lambda: idle.set_result(None))
        await asyncio.wait_for(idle, 5.0)
        assert ta.aborted and tb.aborted

    asyncio.run(run())
