"""body_deadline: the deadline of a try's response body from the route's and the try's."""

from __future__ import annotations

from mesh_runtime.sidecar.policy import body_deadline


def test_earlier_deadline_wins() -> None:
    """With both timeouts set, the body must be complete by the earlier deadline."""
    assert body_deadline(10.0, 12.5) == 10.0
    assert body_deadline(12.5, 10.0) == 10.0


def test_one_timeout_alone_is_the_deadline() -> None:
    """A route timeout alone, or a per-try timeout alone, is the body's deadline."""
    assert body_deadline(10.0, None) == 10.0
    assert body_deadline(None, 7.0) == 7.0


def test_no_timeout_no_deadline() -> None:
    """Without either timeout a body may stream as long as it takes."""
    assert body_deadline(None, None) is None
