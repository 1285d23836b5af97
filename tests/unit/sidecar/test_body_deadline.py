"""BodyStream deadlines and end observers: a body past its deadline is cut, once."""

from __future__ import annotations

import asyncio

import pytest

from mesh_runtime.sidecar.http1 import BodyStream, BodyTimeout, ConnectionClosed


class Producer:
    """Records what the stream asks of its producing connection."""

    def __init__(self) -> None:
        self.closed = 0

    def abandon(self) -> None:
        self.closed += 1


def _stream(producer: Producer, ends: list[BaseException | None]) -> BodyStream:
    body = BodyStream(on_abandon=producer.abandon)
    body.on_end(ends.append)
    return body


def test_body_past_its_deadline_is_cut_and_its_connection_closed() -> None:
    """At the deadline the reader gets the chunks that came in time, then BodyTimeout;
    the producer's connection is closed and the observer hears BodyTimeout once."""

    async def scenario() -> tuple[list[bytes], BaseException | None]:
        loop = asyncio.get_running_loop()
        body = _stream(producer, ends)
        body.feed(b"early")
        body.expire_at(loop, loop.time() + 0.01)
        got = [await body.read()]
        try:
            await body.read()
        except ConnectionClosed as exc:
            return got, exc
        return got, None

    producer, ends = Producer(), []
    got, error = asyncio.run(scenario())
    assert got == [b"early"]
    assert isinstance(error, BodyTimeout)
    assert producer.closed == 1
    assert len(ends) == 1 and isinstance(ends[0], BodyTimeout)


def test_body_complete_in_time_is_untouched() -> None:
    """A body that ends before its deadline has its timer cancelled: no cut, no close."""

    async def scenario() -> bytes:
        loop = asyncio.get_running_loop()
        body = _stream(producer, ends)
        body.expire_at(loop, loop.time() + 0.01)
        body.feed(b"all")
        body.finish()
        await asyncio.sleep(0.03)  # past the deadline: the timer must be gone
        return await body.read()

    producer, ends = Producer(), []
    assert asyncio.run(scenario()) == b"all"
    assert producer.closed == 0
    assert ends == [None]


def test_end_observer_is_told_once_however_the_body_ends() -> None:
    """finish, fail and abandon each tell the observer once; later ends are ignored."""
    producer = Producer()
    finished: list[BaseException | None] = []
    body = _stream(producer, finished)
    body.finish()
    body.abandon()
    assert finished == [None]
    failed: list[BaseException | None] = []
    broken = _stream(producer, failed)
    error = ConnectionClosed("cut")
    broken.fail(error)
    broken.finish()
    assert failed == [error]
    abandoned: list[BaseException | None] = []
    _stream(producer, abandoned).abandon()
    assert abandoned == [None]
    assert producer.closed == 1


def test_observer_of_an_ended_body_is_told_at_once() -> None:
    """on_end on a body that already ended calls the observer right away."""
    body = BodyStream()
    body.finish()
    ends: list[BaseException | None] = []
    body.on_end(ends.append)
    assert ends == [None]


def test_started_waits_for_the_first_chunk_without_consuming_it() -> None:
    """started() returns once a chunk is buffered; read() still gets that chunk."""

    async def scenario() -> bytes:
        body = BodyStream()
        waiting = asyncio.ensure_future(body.started())
        await asyncio.sleep(0)
        assert not waiting.done()
        body.feed(b"first")
        await asyncio.wait_for(waiting, 1.0)
        return await body.read()

    assert asyncio.run(scenario()) == b"first"


@pytest.mark.parametrize("end", ["finish", "fail"])
def test_started_returns_when_the_body_ends_empty(end: str) -> None:
    """started() also returns when the body ends with no chunk at all."""

    async def scenario() -> None:
        body = BodyStream()
        waiting = asyncio.ensure_future(body.started())
        await asyncio.sleep(0)
        if end == "finish":
            body.finish()
        else:
            body.fail(ConnectionClosed("cut"))
        await asyncio.wait_for(waiting, 1.0)

    asyncio.run(scenario())
