"""Waiting for a kept connection's answer in a gevent process, for less than gevent's socket.

gevent's cooperative `recv` first tries the read (the answer to a request just sent is not
there yet: EAGAIN, an exception), then makes a `Timeout` (a new timer watcher) and waits
on the socket's read watcher, then reads again: two system calls, two objects and their
start and stop a request. `GreenReadable` keeps one io watcher and one timer for a
connection's socket, restarted on each wait; the connection waits first and reads once
the kernel has the answer. In-process, 16 connections to fortio: 18-20 -> 10-12 us of the
client's CPU a request.

Each wait gets the whole timeout. The timer is restarted with `again` (libev's
`ev_timer_again`: due `timeout` from now), not with a `gevent.Timeout`'s `cancel` and
`start`: libev's `ev_timer_stop` keeps what was left of a stopped timer's time and
`ev_timer_start` goes on from there (gevent issue 1890), so every wait of a connection drew
on one budget, and once its waits added up to the timeout a request an answer was
arriving for failed as a timeout a few ms after it was sent (the shop soak's spurious
client timeouts, DEVELOPING "Load driver").

Only for a plain socket: a TLS socket may hold decrypted bytes in OpenSSL's buffer while
its descriptor has nothing to read. `answers_waiting` counts the connections whose answer
is back but not read yet (a worker behind on CPU has many: `harness.load.pacer`'s
`connections_to_open`). Imports gevent; the Locust processes (and the tests,
whose thread gets a hub of its own) use it.
"""

from __future__ import annotations

import select
from collections.abc import Iterable

import gevent
from gevent import monkey
from greenlet import getcurrent, greenlet

_poll = monkey.get_original("select", "poll")
"""The system's poll (gevent's would wait in the hub), for `answers_waiting`."""


class GreenReadable:
    """Waits in the calling greenlet until descriptor `fileno` is readable, for at most
    `timeout` seconds a wait (then `TimeoutError`, as a socket's timeout is)."""

    def __init__(self, fileno: int, timeout: float) -> None:
        hub = gevent.get_hub()
        self._hub_wait = hub.wait
        self._watcher = hub.loop.io(fileno, 1)  # 1: libev's EV_READ
        # `repeat` is what `again` counts from; it is stopped before it could repeat.
        self._timer = hub.loop.timer(timeout, timeout)

    def wait(self) -> None:
        self._timer.again(_expired, getcurrent(), update=True)  # the loop's time made now
        try:
            self._hub_wait(self._watcher)
        finally:
            self._timer.stop()

    def close(self) -> None:
        """Before the socket is closed (libev must not watch a closed descriptor)."""
        self._timer.close()
        self._watcher.close()


def _expired(waiting: greenlet) -> None:
    """The timer's callback, in the hub: the waiting greenlet gets the timeout."""
    waiting.throw(TimeoutError("timed out waiting for the answer"))


def answers_waiting(filenos: Iterable[int]) -> int:
    """How many of the descriptors have something to read now: kept connections whose
    answer is back and not read yet (one `poll` that does not wait)."""
    poller = _poll()
    for fileno in filenos:
        poller.register(fileno, select.POLLIN)
    return len(poller.poll(0))
