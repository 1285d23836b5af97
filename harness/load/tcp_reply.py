"""A TCP load route's outcome, pure: is the reply what the route expects, and what a
failed exchange is called in the record's `error` column.

A TCP request's record has status 200 when the exchange succeeded, else 0 (no good
answer, a failure for `error_rate`), with `error` naming why: connect-refused,
connect-failed, reset, timeout, closed-early (the server closed before the expected
reply), unexpected-reply.
"""

from __future__ import annotations

import errno
import socket

from harness.spec.load import TcpRouteSpec

OK = 200
FAILED = 0


def reply_complete(route: TcpRouteSpec, reply: bytes) -> bool:
    """Whether `reply` already meets the route's expectation (reading may stop)."""
    if route.expect_bytes is not None and len(reply) < route.expect_bytes:
        return False
    if route.expect is not None and route.expect.encode("utf-8") not in reply:
        return False
    return route.expect is not None or route.expect_bytes is not None


def judge_reply(route: TcpRouteSpec, reply: bytes, closed: bool) -> str:
    """'' when `reply` is what the route wants, else the error name."""
    if route.expect is None and route.expect_bytes is None:
        return ""
    if reply_complete(route, reply):
        return ""
    if route.expect_bytes is not None and len(reply) < route.expect_bytes and closed:
        return "closed-early"
    return "unexpected-reply" if reply else "closed-early"


def error_name(exc: BaseException, connected: bool) -> str:
    """The error column for an exchange that raised `exc` (before or after connecting)."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect-refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        # Before `connect` returned too: Linux reports ECONNRESET to a connect only once
        # the handshake is done and the server then reset (no listener is ECONNREFUSED),
        # as a proxy that accepts and finds no upstream does within microseconds.
        return "reset"
    if connected and isinstance(exc, OSError) and exc.errno == errno.ENOTCONN:
        return "reset"  # the peer's RST came before our shutdown(SHUT_WR)
    if isinstance(exc, OSError) and not connected:
        code = errno.errorcode.get(exc.errno or 0, "")
        return f"connect-failed: {code or type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}"[:200]
