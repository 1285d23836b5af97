"""The rules of a mesh config that no field type states, as plain functions.

Shared by the pydantic models of `mesh_runtime.config` (the control plane, the harness,
`meshproof validate`) and the sidecar's own reader (`mesh_runtime.sidecar.meshconfig`),
which must not import pydantic: one statement of each rule. Each raises ValueError with
the message a user sees after the field's path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

MtlsMode = Literal["DISABLE", "PERMISSIVE", "STRICT"]

GRPC_RETRY_ON = frozenset(
    {"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}
)
"""Istio's retryOn names of gRPC statuses (a trailers-only answer's `grpc-status`)."""
RETRY_ON_CONDITIONS = (
    frozenset({"5xx", "gateway-error", "reset", "connect-failure", "retriable-status-codes"})
    | GRPC_RETRY_ON
)

_METHOD = re.compile(r"^[A-Z]+$")


def spiffe_id(trust_domain: str, service: str) -> str:
    """The SPIFFE ID of a service's workloads (Istio's form, in the default namespace)."""
    return f"spiffe://{trust_domain}/ns/default/sa/{service}"


def check_string_match(exact: str | None, prefix: str | None, regex: str | None) -> None:
    """A StringMatch names exactly one kind; a regex must compile."""
    given = [v for v in (exact, prefix, regex) if v is not None]
    if len(given) != 1:
        raise ValueError("expected exactly one of exact, prefix, regex")
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None


def retry_conditions(value: str) -> list[str]:
    """The conditions of a retryOn list ('5xx,reset')."""
    return [c.strip() for c in value.split(",") if c.strip()]


def check_retry_on(value: str) -> str:
    unknown = set(retry_conditions(value)) - RETRY_ON_CONDITIONS
    if unknown:
        known = ", ".join(sorted(RETRY_ON_CONDITIONS))
        raise ValueError(f"unknown retryOn condition {sorted(unknown)[0]!r} (known: {known})")
    return value


def check_abort_status(http_status: int | None, grpc_status: int | None) -> None:
    if (http_status is None) == (grpc_status is None):
        raise ValueError("expected exactly one of httpStatus, grpcStatus")


def check_route_weights(weights: list[int]) -> None:
    if len(weights) > 1 and sum(weights) != 100:
        raise ValueError("route weights must add up to 100")


def check_pattern(value: str) -> str:
    """An Istio string match: exact, 'prefix*', '*suffix' or '*'; no other wildcard."""
    if not value:
        raise ValueError("expected a non-empty pattern")
    inner = value[1:-1] if len(value) > 1 else ""
    if "*" in inner or (value.startswith("*") and value.endswith("*") and value != "*"):
        raise ValueError(f"'*' may only start or end a pattern, got {value!r}")
    return value


def check_patterns(values: list[str]) -> list[str]:
    return [check_pattern(v) for v in values]


def check_methods(values: Iterable[str]) -> None:
    for value in values:
        if value != "*" and not _METHOD.match(value):
            raise ValueError(f"expected an upper-case HTTP method like 'GET', got {value!r}")
