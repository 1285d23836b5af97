"""A request body forwarded as it arrives: the messages of a streaming gRPC call.

A gRPC call's request over HTTP/2 is handed to the proxy at its HEADERS, its body a
`StreamedBody` fed by the listener's connection (flow control: the client's window opens
only as the body is read on). The try in flight reads it chunk by chunk and sends each on
upstream (`pump`), so bidirectional streams pass through message by message. What was
read is kept, up to `keep` bytes, so a retry can send the body again from its start:
`replayable` says whether everything read so far is still held. Whether a retry may
happen at all is the proxy's rule (only before any response byte went downstream).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable

from mesh_runtime.sidecar.http1 import BodyStream

KEEP_FOR_RETRY = 64 * 1024
"""Request bytes of a streamed call kept for a retry (Envoy's per-request buffer limit
is of this order); a longer stream is not retried."""


class StreamedBody:
    """A request body still arriving, read by one try at a time."""

    __slots__ = ("_keep", "_kept", "_kept_size", "_whole", "size", "source")

    def __init__(self, source: BodyStream, keep: int = KEEP_FOR_RETRY) -> None:
        self.source = source
        self._keep = keep
        self._kept: list[bytes] = []
        self._kept_size = 0
        self._whole = True
        self.size = 0
        """Bytes read from the caller so far."""

    @property
    def replayable(self) -> bool:
        """Whether a new try could send the whole body from its start."""
        return self._whole

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body from its start: what earlier tries read, then the rest as it comes."""
        if not self._whole:
            raise RuntimeError("the request body was read past what is kept")
        for chunk in list(self._kept):
            yield chunk
        while chunk := await self.source.read():
            self._hold(chunk)
            yield chunk

    def whole(self) -> bytes | None:
        """The whole body when all of it has arrived (it need not stream), else None."""
        if not self._whole:
            return None
        rest = self.source.take_complete()
        if rest is None:
            return None
        body = b"".join([*self._kept, rest]) if self._kept else rest
        self._hold(rest)
        return body

    async def read_all(self) -> bytes:
        """The whole body (for an upstream that takes no streamed body: HTTP/1.1)."""
        return b"".join([chunk async for chunk in self.chunks()])

    def _hold(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if not self._whole:
            return
        self._kept_size += len(chunk)
        if self._kept_size > self._keep:
            self._whole = False
            self._kept = []
        else:
            self._kept.append(chunk)


async def pump(
    body: StreamedBody,
    send: Callable[[bytes], Awaitable[None]],
    end: Callable[[], None],
) -> None:
    """Send `body` on with `send` chunk by chunk (each within the peer's windows), then
    `end` the stream."""
    async for chunk in body.chunks():
        await send(chunk)
    end()
