"""Waiting for a kept connection's answer in a gevent process, for less than gevent's socket.

gevent's cooperative `recv` first tries the read (the answer to a request just sent is not
there yet: EAGAIN, an exception), then makes a `Timeout` (a new timer watcher) and waits
on the socket's read watcher, then reads again: two system calls, two objects and their
start and stop a request. `GreenReadable` keeps one io watcher and one timeout for a
connection's socket, restarted on each wait; the connection waits first and reads once
the kernel has the answer. In-process, 16 connections to fortio: 18-20 -> 10-12 us of the
client's CPU a request.

Only for a plain socket: a TLS socket may hold decrypted bytes in OpenSSL's buffer while
its descriptor has nothing to read. Imports gevent; the Locust processes (and the tests,
whose thread gets a hub of its own) use it.
"""

from __future__ import annotations

import gevent


class GreenReadable:
    """Waits in the calling greenlet until descriptor `fileno` is readable, for at most
    `timeout` seconds a wait (then `TimeoutError`, as a socket's timeout is)."""

    def __init__(self, fileno: int, timeout: float) -> None:
        hub = gevent.get_hub()
        self._hub_wait = hub.wait
        self._watcher = hub.loop.io(fileno, 1)  # 1: libev's EV_READ
        self._timeout = gevent.Timeout(timeout, TimeoutError)

    def wait(self) -> None:
        self._timeout.start()
        try:
            self._hub_wait(self._watcher)
        finally:
            self._timeout.cancel()

    def close(self) -> None:
        """Before the socket is closed (libev must not watch a closed descriptor)."""
        self._timeout.close()
        self._watcher.close()
