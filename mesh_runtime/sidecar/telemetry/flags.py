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
)
"""Envoy's order when several flags are set (its flag table order)."""

ALL_FLAGS = frozenset(ORDER)


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
