"""A gRPC load route's outcome, pure: the record's status and error for a call's code.

The record's `status` is the HTTP status the gRPC code stands for (Envoy's mapping, as
the sidecar's outlier detection uses: OK 200, CANCELLED 499, RESOURCE_EXHAUSTED 429,
DEADLINE_EXCEEDED 504, UNAVAILABLE 503, INTERNAL / UNKNOWN / DATA_LOSS 500,
UNIMPLEMENTED 501, ...), so `error_rate` (status >= 500 or none) counts exactly the codes
OpenTelemetry's gRPC conventions call server errors, and every analysis, comparison and
report reads gRPC records as it reads HTTP ones. `error` names the code: `grpc
UNAVAILABLE: <details>` ('' for OK).
"""

from __future__ import annotations

from mesh_runtime.grpc_codes import code_name, http_status_of

MAX_ERROR = 200


def grpc_outcome(code: int, details: str) -> tuple[int, str]:
    """(status, error) of a call that ended with `code`."""
    if code == 0:
        return 200, ""
    error = f"grpc {code_name(code)}"
    if details:
        error += f": {details}"
    return http_status_of(code), error[:MAX_ERROR]


def call_timeout(deadline: float | None, load_timeout: float) -> float:
    """The call's deadline: the route's, never beyond the load's timeout."""
    return load_timeout if deadline is None else min(deadline, load_timeout)
