"""How one downstream call went (HTTP or TCP), as the call tree of an answer shows it."""

from __future__ import annotations

from typing import Any, NamedTuple


class CallResult(NamedTuple):
    """How one downstream call went; status 0 means no HTTP answer at all. A gRPC call
    has its `grpc_status` and, as `status`, the HTTP status that code stands for.

    A named tuple, not a frozen dataclass: one is made per call, and a frozen dataclass's
    `__init__` sets each field through `object.__setattr__` (3.3 us against 1.1 us)."""

    service: str
    status: int
    elapsed_ms: float
    instance: str | None = None
    error: str | None = None
    calls: list[Any] | None = None
    """The callee's own calls, from its answer: the request's whole call tree nests."""
    grpc_status: int | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 400

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"service": self.service, "status": self.status}
        out["ms"] = round(self.elapsed_ms, 3)
        if self.instance is not None:
            out["instance"] = self.instance
        if self.grpc_status is not None:
            out["grpc_status"] = self.grpc_status
        if self.error is not None:
            out["error"] = self.error
        if self.calls:
            out["calls"] = self.calls
        return out


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
