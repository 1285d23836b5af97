"""Envoy's response flags, as they appear in metrics and the access log."""

from __future__ import annotations

from collections.abc import Iterable

NONE = "-"
"""No flag."""
NO_HEALTHY_UPSTREAM = "UH"
UPSTREAM_TIMEOUT = "UT"
UPSTREAM_CONNECT_FAILURE = "UF"
UPSTREAM_CONNECTION_TERMINATED = "UC"
UPSTREAM_OVERFLOW = "UO"
NO_ROUTE = "NR"
DELAY_INJECTED = "DI"
FAULT_INJECTED = "FI"
UPSTREAM_RETRY_LIMIT_EXCEEDED = "URX"
RBAC_DENIED = "RBAC"
DOWNSTREAM_CONNECTION_TERMINATION = "DC"
"""The caller's connection closed before the answer (an HTTP/1.1 hang-up): status 0."""
DOWNSTREAM_REMOTE_RESET = "DR"
"""The caller reset its HTTP/2 stream (a gRPC call cancelled at its deadline): status 0."""
STREAM_IDLE_TIMEOUT = "SI"
DOWNSTREAM_PROTOCOL_ERROR = "DPE"

ORDER: tuple[str, ...] = (
    NO_HEALTHY_UPSTREAM,
    UPSTREAM_TIMEOUT,
    UPSTREAM_CONNECT_FAILURE,
    UPSTREAM_CONNECTION_TERMINATED,
    UPSTREAM_OVERFLOW,
    NO_ROUTE,
    DELAY_INJECTED,
    FAULT_INJECTED,
    UPSTREAM_RETRY_LIMIT_EXCEEDED,
    RBAC_DENIED,
    DOWNSTREAM_CONNECTION_TERMINATION,
    STREAM_IDLE_TIMEOUT,
    DOWNSTREAM_PROTOCOL_ERROR,
    DOWNSTREAM_REMOTE_RESET,
)
"""Envoy's order when several flags are set (its flag table order)."""

ALL_FLAGS = frozenset(ORDER)

CANCEL_FLAGS = frozenset(
    {
        DOWNSTREAM_CONNECTION_TERMINATION,
        DOWNSTREAM_REMOTE_RESET,
        STREAM_IDLE_TIMEOUT,
        DOWNSTREAM_PROTOCOL_ERROR,
    }
)
"""Why a request's task may be cancelled by its listener (`task.cancel(flag)`): the
caller is gone, so nobody is left to answer; the request is still counted, status 0."""


def cancel_flag(error: BaseException, default: str) -> str:
    """The flag a request's task was cancelled with (`task.cancel(flag)`), else `default`
    (a cancellation with no message: a timeout scope's own, or a shutdown)."""
    args = error.args
    if args and isinstance(args[0], str) and args[0] in CANCEL_FLAGS:
        return args[0]
    return default


def join_flags(flags: Iterable[str]) -> str:
    """'DI,FI' from several flags, in Envoy's order, without repeats; '-' when none."""
    present = {f for f in flags if f and f != NONE}
    if not present:
        return NONE
    if len(present) == 1:
        return next(iter(present))
    known = [f for f in ORDER if f in present]
    unknown = sorted(present - ALL_FLAGS)
    return ",".join(known + unknown)
