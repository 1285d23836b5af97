"""A streamed request body: read on as it comes, kept for a retry while small enough."""

from __future__ import annotations

import asyncio

import pytest

from mesh_runtime.sidecar.h2_request import StreamedBody
from mesh_runtime.sidecar.http1 import BodyStream


def _read(body: StreamedBody) -> bytes:
    return asyncio.run(body.read_all())


def test_a_retry_reads_the_body_again_from_its_start() -> None:
    """What the first try read is sent again first, then what came since."""
    source = BodyStream()
    body = StreamedBody(source, keep=10)

    async def scenario() -> tuple[bytes, bytes]:
        source.feed(b"abc")
        first = body.chunks()
        got = await anext(first)
        await first.aclose()  # the try ended early (a trailers-only answer)
        source.feed(b"def")
        source.finish()
        return got, await body.read_all()

    assert asyncio.run(scenario()) == (b"abc", b"abcdef")
    assert body.replayable


def test_a_body_read_past_what_is_kept_is_not_replayable() -> None:
    """Once more than `keep` bytes went on, a new try cannot send the whole body."""
    source = BodyStream()
    source.feed(b"0123456789ab")
    source.finish()
    body = StreamedBody(source, keep=10)
    assert _read(body) == b"0123456789ab"
    assert not body.replayable
    with pytest.raises(RuntimeError):
        _read(body)


def test_a_body_that_arrived_whole_is_taken_at_once_and_again_for_a_retry() -> None:
    """A unary call's body is all there before it goes upstream: sent as bytes, each try."""
    source = BodyStream()
    body = StreamedBody(source, keep=10)
    source.feed(b"ab")
    assert body.whole() is None  # more may come
    source.feed(b"cd")
    source.finish()
    assert (body.whole(), body.whole(), body.size) == (b"abcd", b"abcd", 4)
