"""HTTP/1.1 message heads and bodies as the proxy sees them (their wire form: `http1_wire`).

Both listeners and the upstream client parse with httptools; this module holds what they
share: the request and response objects and the body stream fed by a connection and read
by one consumer (with back-pressure); `http1_wire.py` the hop-by-hop header rules and head
serialisation.
Header names are lower-cased when parsed (HTTP names are case-insensitive, Envoy does the
same), so every lookup compares lower-case bytes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from mesh_runtime.sidecar.h2_request import StreamedBody

Headers = list[tuple[bytes, bytes]]


class MessageCount(Protocol):
    count: int

    def feed(self, data: bytes) -> None: ...


class ConnectionClosed(Exception):
    """The connection carrying a body closed before the body was complete."""


class BodyTimeout(ConnectionClosed):
    """The body was not complete by its deadline (route or per-try timeout): cut off."""


@dataclass(frozen=True, slots=True)
class Downstream:
    """The client end of one server connection, shared by the requests on it."""

    remote: str = ""
    """'host:port' of the peer."""
    mutual_tls: bool = False
    principal: str = ""
    """The peer's SPIFFE ID from its verified certificate ('' without mTLS)."""


PLAIN: Final = Downstream()
"""A request made without a connection (tests, internal answers)."""


@dataclass(slots=True, init=False)
class Request:
    method: bytes
    target: bytes
    headers: Headers
    body: bytes
    keep_alive: bool
    downstream: Downstream
    http2: bool
    """Came in over HTTP/2: it goes upstream over HTTP/2 too (the client's protocol)."""
    stream: StreamedBody | None
    """A gRPC call's body still arriving over HTTP/2, forwarded as it comes (`body` empty)."""

    def __init__(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        body: bytes = b"",
        keep_alive: bool = True,
        downstream: Downstream = PLAIN,
        http2: bool = False,
        stream: StreamedBody | None = None,
    ) -> None:
        # Written out, as Response's: mypyc compiles this one, while the __init__ that
        # dataclass generates stays interpreted Python (one or two a request).
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.downstream = downstream
        self.http2 = http2
        self.stream = stream

    def header(self, name: bytes) -> bytes | None:
        """The first value of a (lower-case) header, or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def path(self) -> str:
        return self.target.split(b"?", 1)[0].decode("latin-1")


@dataclass(slots=True, init=False)
class Response:
    status: int
    headers: Headers
    body: bytes | BodyStream
    content_length: int | None
    """Length of a streamed body when the upstream said it; None means unknown."""
    flags: str
    """Envoy-style response flags of this answer (for metrics and logs only)."""

    def __init__(
        self,
        status: int,
        headers: Headers | None = None,
        body: bytes | BodyStream = b"",
        content_length: int | None = None,
        flags: str = "-",
    ) -> None:
        self.status = status
        self.headers = [] if headers is None else headers
        self.body = body
        self.content_length = content_length
        self.flags = flags

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def discard(self) -> None:
        """Give up on the body (e.g. a retried 503): its connection cannot be reused."""
        if isinstance(self.body, BodyStream):
            self.body.abandon()

    async def read_body(self) -> bytes:
        """The whole body (for small internal answers and tests)."""
        if isinstance(self.body, bytes):
            return self.body
        parts = []
        while chunk := await self.body.read():
            parts.append(chunk)
        return b"".join(parts)


def simple_response(status: int, text: str = "", flags: str = "-") -> Response:
    """A small plain-text answer made by the sidecar itself."""
    body = (text or HTTPStatus(status).phrase).encode() + b"\n"
    return Response(status, [(b"content-type", b"text/plain")], body, flags=flags)


class BodyStream:
    """Body chunks from one connection, read by one consumer.

    The producer (a protocol's `on_body`) calls `feed`, then `finish` or `fail`; above
    `high_water` buffered bytes it pauses its transport's reading until the consumer
    catches up, so a fast upstream cannot fill memory behind a slow downstream.
    `expire_at` gives the body a deadline (one timer, cancelled when the body ends): past
    it the stream fails with `BodyTimeout` and the producer's connection is closed.
    `on_end` tells one observer, once, how the body ended (None: complete or abandoned).
    """

    __slots__ = (
        "_abandoned",
        "_chunks",
        "_done",
        "_error",
        "_high",
        "_on_abandon",
        "_on_end",
        "_pause",
        "_paused",
        "_resume",
        "_size",
        "_timer",
        "_waiter",
        "messages",
        "trailers",
    )

    def __init__(
        self,
        pause: Callable[[], None] | None = None,
        resume: Callable[[], None] | None = None,
        on_abandon: Callable[[], None] | None = None,
        high_water: int = 256 * 1024,
    ) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._pause = pause
        self._resume = resume
        self._on_abandon = on_abandon
        self._paused = False
        self._high = high_water
        self._abandoned = False
        self._timer: asyncio.TimerHandle | None = None
        self._on_end: Callable[[BaseException | None], None] | None = None
        self.trailers: Headers | None = None
        """HTTP/2 trailers that came after the body (set by the producer before `finish`)."""
        self.messages: MessageCount | None = None
        """Counts the gRPC messages the producer fed (a gRPC response over HTTP/2)."""

    @property
    def complete(self) -> bool:
        return self._done

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size > self._high and self._pause is not None and not self._paused:
            self._paused = True
            self._pause()
        self._wake()

    def finish(self) -> None:
        if not self._done:
            self._ended(None)
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if not self._done:
            self._error = exc
            self._ended(exc)
            self._wake()

    def abandon(self) -> None:
        was_done = self._done
        if not was_done and self._on_abandon is not None:
            self._on_abandon()
        self._chunks.clear()
        self._abandoned = True
        if not was_done:
            self._ended(None)

    def on_end(self, observer: Callable[[BaseException | None], None]) -> None:
        """Call `observer` once when the body ends (at once if it already has)."""
        if self._done:
            observer(self._error)
        else:
            self._on_end = observer

    def expire_at(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        """Cut the body if it is not complete at loop time `when`."""
        if not self._done:
            self._timer = loop.call_at(when, self._expire)

    async def started(self) -> None:
        """Wait until a chunk is buffered or the body has ended (nothing is consumed)."""
        while not self._chunks and not self._done:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    def _expire(self) -> None:
        self._timer = None
        if self._done:
            return
        self.fail(BodyTimeout("response body not complete within the timeout"))
        if self._on_abandon is not None:
            self._on_abandon()  # the producer's connection has a body on its way: close it

    def _ended(self, error: BaseException | None) -> None:
        self._done = True
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()
        observer = self._on_end
        if observer is not None:
            self._on_end = None
            observer(error)

    def take_complete(self) -> bytes | None:
        """The whole rest of a body that has fully arrived, without waiting; None while
        more may come, after an error or once abandoned (then `read` tells)."""
        if not self._done or self._error is not None or self._abandoned:
            return None
        data = b"".join(self._drain())
        self._size = 0
        if self._paused and self._resume is not None:
            self._paused = False
            self._resume()
        return data

    async def read(self) -> bytes:
        """The next chunk(s) buffered, or b'' at the end; raises if the connection broke."""
        while not self._chunks:
            if self._done:
                if self._error is not None:
                    raise self._error
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._drain())
        self._size -= len(data)
        if self._paused and self._size <= self._high // 2 and self._resume is not None:
            self._paused = False
            self._resume()
        return data

    def _drain(self) -> list[bytes]:
        out = list(self._chunks)
        self._chunks.clear()
        return out

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._waiter = None


READ_BUFFER: Final = memoryview(bytearray(64 * 1024))
"""The one buffer every connection of the process reads into (they are
`asyncio.BufferedProtocol`s): the loop fills it and the connection's parser consumes it at
once, copying out what it keeps (httptools hands its callbacks bytes), so one buffer
serves all of them. Reading into it spares a bytes object per read, and over TLS a
256 KiB allocation per read (what uvloop's SSL layer asks a plain Protocol's reads for:
on glibc an mmap, a mremap and a munmap each time)."""
