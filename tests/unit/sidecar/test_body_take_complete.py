"""BodyStream.take_complete: the whole body at once when it has already arrived."""

from __future__ import annotations

from mesh_runtime.sidecar.http1 import BodyStream, ConnectionClosed


def test_complete_body_is_taken_whole() -> None:
    """Chunks fed and finished come back joined, and the stream is then empty."""
    body = BodyStream()
    body.feed(b"ab")
    body.feed(b"cd")
    body.finish()
    assert body.take_complete() == b"abcd"
    assert body.take_complete() == b""


def test_unfinished_body_is_not_taken() -> None:
    """While more may come, nothing is taken and the chunks stay for read()."""
    body = BodyStream()
    body.feed(b"ab")
    assert body.take_complete() is None
    body.finish()
    assert body.take_complete() == b"ab"


def test_failed_or_abandoned_body_is_not_taken() -> None:
    """A body whose connection broke, or that was abandoned, is left to read() to report."""
    broken = BodyStream()
    broken.feed(b"ab")
    broken.fail(ConnectionClosed("cut"))
    assert broken.take_complete() is None
    abandoned = BodyStream()
    abandoned.abandon()
    assert abandoned.take_complete() is None


def test_taking_resumes_a_paused_producer() -> None:
    """A producer paused above the high-water mark is resumed once the body is taken."""
    calls: list[str] = []
    body = BodyStream(lambda: calls.append("pause"), lambda: calls.append("resume"), high_water=4)
    body.feed(b"abcdef")
    body.finish()
    assert body.take_complete() == b"abcdef"
    assert calls == ["pause", "resume"]
