"""A TCP load request's outcome: the reply against the route's expectation, error names."""

from __future__ import annotations

import pytest

from harness.load.tcp_reply import error_name, judge_reply, reply_complete
from harness.spec.load import TcpRouteSpec


def test_expect_text_and_byte_count() -> None:
    """A reply is complete once it holds the text and at least the byte count."""
    route = TcpRouteSpec(service="kv", expect="PONG", expect_bytes=10)
    assert not reply_complete(route, b"PONG")
    assert not reply_complete(route, b"0123456789")
    assert reply_complete(route, b"PONG kv-0\n")
    assert judge_reply(route, b"PONG kv-0\n", closed=True) == ""
    assert judge_reply(route, b"PONG", closed=True) == "closed-early"
    assert judge_reply(route, b"ERROR nope!!", closed=True) == "unexpected-reply"
    assert judge_reply(route, b"", closed=True) == "closed-early"


def test_without_an_expectation_any_orderly_end_is_ok() -> None:
    """No expect, no byte count: the exchange is ok when the server closed in order."""
    route = TcpRouteSpec(service="kv", send="PING\n")
    assert not reply_complete(route, b"anything")
    assert judge_reply(route, b"", closed=True) == ""


@pytest.mark.parametrize(
    ("exc", "connected", "name"),
    [
        (TimeoutError(), True, "timeout"),
        (TimeoutError(), False, "timeout"),
        (ConnectionRefusedError(111, "refused"), False, "connect-refused"),
        (ConnectionResetError(104, "reset"), True, "reset"),
        (ConnectionResetError(104, "reset"), False, "reset"),  # accepted, then reset
        (BrokenPipeError(32, "pipe"), True, "reset"),
        (OSError(107, "not connected"), True, "reset"),
        (OSError(113, "no route"), False, "connect-failed: EHOSTUNREACH"),
    ],
)
def test_errors_are_named(exc: BaseException, connected: bool, name: str) -> None:
    """Refused, reset, timeout and other connect failures get the record's error names; a
    reset is a reset whether or not the connect had returned (the server accepted)."""
    assert error_name(exc, connected) == name
