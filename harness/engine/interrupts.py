"""SIGINT / SIGTERM during a run: stop at once, but never in the middle of cleaning up.

`InterruptGuard` is entered by the engine's run function only (never at import): while it
is active, the first SIGINT or SIGTERM raises `RunInterrupted` in the main thread, which
unwinds the run to its `finally`, where faults are rolled back, data written and the
deployment torn down. Inside `guard.shielded()` a signal is only remembered, so a second
Ctrl-C cannot cut a rollback short. The previous handlers are restored on exit.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal; a KeyboardInterrupt so `except Exception` lets it by."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


class InterruptGuard:
    """Turns SIGINT / SIGTERM into `RunInterrupted` while active (main thread only)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._shielded = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    @property
    def interrupted(self) -> bool:
        return self.received is not None

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Signals inside this block are remembered, not raised."""
        before = self._shielded
        self._shielded = True
        try:
            yield
        finally:
            self._shielded = before

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        if first:
            self.received = signum
        if first and not self._shielded:
            raise RunInterrupted(signum)


def late_signal_note(received: int | None, stopped: bool) -> str | None:
    """What to tell of a signal that came while a run that had run its timeline to the end
    was being judged and written (`shielded`: only remembered): it was not stopped, and a
    second Ctrl-C meanwhile changed nothing. None when no signal came, or it stopped the run."""
    if received is None or stopped:
        return None
    name = signal.Signals(received).name
    return (
        f"{name} came while the run was being judged and written; it had run its timeline"
        " to the end, so it was finished, not stopped"
    )
