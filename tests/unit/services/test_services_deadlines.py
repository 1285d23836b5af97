"""The calls' deadline queue keeps asyncio.timeout's behaviour on one timer: each case runs
against both, on a real loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
import uvloop

from mesh_runtime.services.deadlines import DeadlineQueue

Within = Callable[[float], AbstractAsyncContextManager[object]]
DELAY = 0.02


def _withins() -> list[Callable[[], Within]]:
    return [lambda: DeadlineQueue().within, lambda: asyncio.timeout]


@pytest.fixture(params=_withins(), ids=["queue", "asyncio.timeout"])
def within(request: pytest.FixtureRequest) -> Within:
    made: Within = request.param()
    return made


async def _hang(within: Within, delay: float) -> float:
    """Seconds until the deadline ended a call that never answers (TimeoutError)."""
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with within(delay):
            await asyncio.sleep(10)
    return time.monotonic() - started


def test_a_call_past_its_deadline_times_out_and_one_in_time_does_not(within: Within) -> None:
    """A call that answers in time is left alone; later calls that do not answer time out
    at their deadline (the queue's timer re-armed past finished calls), not before."""

    async def run() -> list[float]:
        async with within(DELAY):
            await asyncio.sleep(0)
        return [await _hang(within, DELAY), await _hang(within, DELAY)]

    assert all(DELAY * 0.9 <= s < 1.0 for s in uvloop.run(run()))


def test_a_shorter_limit_behind_a_longer_one_keeps_its_own_deadline(within: Within) -> None:
    """A deadline earlier than one already waiting, or than one whose call has answered
    (the timer may still be armed for it), still ends its call on time."""

    async def run() -> list[float]:
        long = asyncio.get_running_loop().create_task(_hang(within, 5.0))
        await asyncio.sleep(0)  # its deadline is queued first
        short = await _hang(within, DELAY)
        long.cancel()
        async with within(5.0):
            await asyncio.sleep(0)
        return [short, await _hang(within, DELAY)]

    assert all(s < 1.0 for s in uvloop.run(run()))


def test_a_call_also_cancelled_by_someone_else_stays_cancelled(within: Within) -> None:
    """When the task was cancelled besides its deadline (its client hung up), the deadline
    does not turn that into a TimeoutError."""

    async def call() -> None:
        async with within(DELAY):
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                asyncio.current_task().cancel()  # type: ignore[union-attr]
                raise

    async def run() -> None:
        await asyncio.get_running_loop().create_task(call())

    with pytest.raises(asyncio.CancelledError):
        uvloop.run(run())
