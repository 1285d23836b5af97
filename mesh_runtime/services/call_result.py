"""How one downstream call went (HTTP or TCP), as the call tree of an answer shows it."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from mesh_runtime.services.behaviour import compact_json


class CallResult(NamedTuple):
    """How one downstream call went; status 0 means no HTTP answer at all. A gRPC call
    has its `grpc_status` and, as `status`, the HTTP status that code stands for.

    A named tuple, not a frozen dataclass: one is made per call, and a frozen dataclass's
    `__init__` sets each field through `object.__setattr__` (3.3 us against 1.1 us)."""

    service: str
    status: int
    elapsed_ms: float
    instance: Any = None
    """The callee's `instance`: a string from our services, whatever JSON another callee
    sent (Any, not `str | None`: compiled, reading a field checks its declared type, and a
    callee answering `"instance": 5` made the answer a 500)."""
    error: str | None = None
    calls: Any = None
    """The callee's own calls, from its answer (a list from our services; Any, as
    `instance`): the request's whole call tree nests."""
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

    def json_text(self) -> str:
        """`compact_json(self.as_json())`, written out: the C encoder made a dozen chunks
        and a join of them, each string escaped on its own (about 20 k instructions of a
        caller's answer, a fifth of a client hop)."""
        text = '{"service":' + json_value(self.service) + ',"status":' + json_number(self.status)
        text += ',"ms":' + json_number(round(self.elapsed_ms, 3))
        if self.instance is not None:
            text += ',"instance":' + json_value(self.instance)
        if self.grpc_status is not None:
            text += ',"grpc_status":' + json_number(self.grpc_status)
        if self.error is not None:
            text += ',"error":' + json_value(self.error)
        if self.calls:
            text += ',"calls":' + compact_json(self.calls)
        return text + "}"


def json_value(value: object) -> str:
    """`compact_json(value)`: a string of printable ASCII without quote or backslash (a
    name, an instance, an error) is written as it is, between quotes; anything else goes
    through the encoder."""
    if isinstance(value, str) and _plain(value):
        return '"' + value + '"'
    return compact_json(value)


def json_number(value: object) -> str:
    """`compact_json(value)`: an int or a finite float is its repr, as the encoder writes
    them (a bool, NaN or infinity goes through the encoder)."""
    if type(value) is int:
        return str(value)
    if isinstance(value, float) and type(value) is float and math.isfinite(value):
        return repr(value)
    return compact_json(value)


def _plain(text: str) -> bool:
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
