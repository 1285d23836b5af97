"""Envoy's route timeout and per-try timeout, as deadlines on the whole response.

The route timeout runs from the request's start until the response is complete (end of
stream); a per-try timeout from the start of its try until that try's response is
complete. The earlier of the two is the deadline of the body a try is streaming.
Before the answer has started downstream a timeout is a 504 UT (or, per try, a retry);
after, the stream is reset and flagged UT. The event loop's timers carry the deadlines.
"""

from __future__ import annotations


def body_deadline(route_deadline: float | None, try_deadline: float | None) -> float | None:
    """When a try's response body must be complete: the earlier deadline, None for none."""
    if route_deadline is None:
        return try_deadline
    if try_deadline is None:
        return route_deadline
    return min(route_deadline, try_deadline)


def per_try_timeout(per_try: float | None, grpc_timeout: float | None) -> float | None:
    """A try's timeout: the route's perTryTimeout, bounded by the call's `grpc-timeout`
    (the caller's deadline: a try past it is wasted work)."""
    if grpc_timeout is None:
        return per_try
    if per_try is None:
        return grpc_timeout
    return min(per_try, grpc_timeout)
