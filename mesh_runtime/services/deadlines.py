"""The deadlines of a service's downstream calls, on one loop timer.

`asyncio.timeout` arms a loop timer per call and runs its own state machine around it:
about 9 us of a calling service's ~60 us per request in process (a bare timer alone about
half of that). The HTTP calls of one service share one limit (`--call-timeout`), so their
deadlines come in the order the calls start: they wait in a queue in that order, and one
timer is armed for the first one still running. When it fires, finished calls at the front
are dropped and expired ones cancelled, by `asyncio.timeout`'s rules: a call cancelled by
its deadline alone raises TimeoutError; one that someone else cancelled too (its client
hung up) stays cancelled. A deadline earlier than one already queued (a shorter limit)
gets `asyncio.timeout` itself.

    async with deadlines.within(10.0):
        await call()
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import AbstractAsyncContextManager
from types import TracebackType


class Deadline:
    """One call's deadline in the queue; `expired` once the queue cancelled its task."""

    __slots__ = ("_queue", "cancelling", "done", "expired", "task", "when")

    def __init__(self, queue: DeadlineQueue, when: float) -> None:
        self._queue = queue
        self.when = when
        self.task: asyncio.Task[object] | None = None
        self.cancelling = 0
        """The task's cancel requests before this deadline: more at the end are not ours."""
        self.done = False
        self.expired = False

    async def __aenter__(self) -> Deadline:
        self._queue.enter(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        task = self.task
        self.done = True
        self.task = None  # a finished call's entry must not keep its task alive
        if not self.expired or task is None:
            return
        # An expired deadline takes its cancel request back whatever the outcome.
        if task.uncancel() <= self.cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc


class DeadlineQueue:
    """The deadlines of calls in flight, in the order they fall due, on one timer."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[Deadline] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = 0.0

    def within(self, delay: float) -> AbstractAsyncContextManager[object]:
        """A context that cancels the current task `delay` s from now (TimeoutError)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        when = loop.time() + delay
        queue = self._queue
        while queue and queue[0].done:  # the calls before this one are mostly over
            queue.popleft()
        # Queued in order, and not before the time the timer is armed for.
        latest = queue[-1].when if queue else self._armed_for if self._timer else when
        if when < latest:
            return asyncio.timeout(delay)
        return Deadline(self, when)

    def close(self) -> None:
        """Stop the timer (the service is stopping; its calls are over)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def enter(self, deadline: Deadline) -> None:
        """Queue `deadline` for the running task; arm the timer if none is."""
        loop = self._loop
        assert loop is not None
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a deadline must be entered inside a task")
        deadline.task = task
        deadline.cancelling = task.cancelling()
        self._queue.append(deadline)
        if self._timer is None:
            self._arm(deadline.when)

    def _arm(self, when: float) -> None:
        assert self._loop is not None
        self._armed_for = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        assert self._loop is not None
        self._timer = None
        # The timer fires for the deadline it was armed for even when the loop's clock reads a
        # hair earlier (its timers are in milliseconds), as a timer per call would.
        now = max(self._loop.time(), self._armed_for)
        queue = self._queue
        while queue and (queue[0].done or queue[0].when <= now):
            deadline = queue.popleft()
            if not deadline.done and deadline.task is not None:
                deadline.expired = True
                deadline.task.cancel()
        if queue:
            self._arm(queue[0].when)
