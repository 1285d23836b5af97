"""gRPC status codes and how they map to HTTP statuses, pure and protocol-neutral: the
sidecar, the sample services and the load all read a call's outcome through these."""

from __future__ import annotations

OK, CANCELLED, UNKNOWN, DEADLINE_EXCEEDED = 0, 1, 2, 4
RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE = 8, 12, 13, 14
UNAUTHENTICATED, PERMISSION_DENIED = 16, 7

NAMES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
"""The canonical code names, indexed by code."""

_HTTP_OF_GRPC = {
    CANCELLED: 499,
    UNKNOWN: 500,
    3: 400,  # INVALID_ARGUMENT
    DEADLINE_EXCEEDED: 504,
    5: 404,  # NOT_FOUND
    6: 409,  # ALREADY_EXISTS
    PERMISSION_DENIED: 403,
    RESOURCE_EXHAUSTED: 429,
    9: 400,  # FAILED_PRECONDITION
    10: 409,  # ABORTED
    11: 400,  # OUT_OF_RANGE
    UNIMPLEMENTED: 501,
    INTERNAL: 500,
    UNAVAILABLE: 503,
    15: 500,  # DATA_LOSS
    UNAUTHENTICATED: 401,
}
"""Envoy's Grpc::Utility::grpcToHttpStatus (outlier detection counts gRPC errors so)."""


def http_status_of(grpc_status: int) -> int:
    """The HTTP status a gRPC status stands for (outlier detection's view)."""
    return 200 if grpc_status == OK else _HTTP_OF_GRPC.get(grpc_status, 500)


def grpc_status_of_http(status: int) -> int:
    """The gRPC status for an HTTP error status (the gRPC spec's mapping)."""
    if status in (429, 502, 503, 504):
        return UNAVAILABLE
    return {400: INTERNAL, 401: UNAUTHENTICATED, 403: PERMISSION_DENIED, 404: UNIMPLEMENTED}.get(
        status, UNKNOWN
    )


def code_name(code: int) -> str:
    """'UNAVAILABLE' for 14; a code outside the table is 'CODE_<n>'."""
    return NAMES[code] if 0 <= code < len(NAMES) else f"CODE_{code}"
