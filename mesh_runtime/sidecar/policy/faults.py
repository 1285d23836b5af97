"""L7 fault injection, as Istio's VirtualService `fault`.

A fault applies only to requests whose headers all match `fault.headers`. The delay is
injected with probability `delay.percentage / 100`, the abort independently with its
own percentage; when both hit, the request is delayed and then aborted, as in Envoy.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from mesh_runtime.sidecar.meshconfig import Fault, StringMatch
from mesh_runtime.sidecar.policy.matching import string_fits


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request: wait `delay_s`, then answer `abort_status` if set."""

    delay_s: float = 0.0
    abort_status: int | None = None
    abort_grpc: int | None = None
    """Abort a gRPC call with this gRPC status (trailers-only) instead."""

    @property
    def delayed(self) -> bool:
        return self.delay_s > 0.0

    @property
    def aborted(self) -> bool:
        return self.abort_status is not None or self.abort_grpc is not None


NO_FAULT = FaultDecision()


def decide_fault(
    fault: Fault | None, headers: Mapping[str, str], rng: random.Random
) -> FaultDecision:
    """Sample the fault for one request; headers are keyed lower-case."""
    if fault is None or (fault.delay is None and fault.abort is None):
        return NO_FAULT
    if fault.headers and not _headers_fit(fault.headers, headers):
        return NO_FAULT
    delay_s = 0.0
    delay = fault.delay
    if delay is not None and _hit(delay.percentage, rng):
        delay_s = delay.fixedDelay
    abort = fault.abort
    if abort is not None and _hit(abort.percentage, rng):
        return FaultDecision(delay_s, abort.httpStatus, abort.grpcStatus)
    if delay_s == 0.0:
        return NO_FAULT
    return FaultDecision(delay_s)


def _hit(percentage: float, rng: random.Random) -> bool:
    """True with probability percentage/100; 0 and 100 never draw a number."""
    if percentage >= 100.0:
        return True
    if percentage <= 0.0:
        return False
    return rng.random() * 100.0 < percentage


def _headers_fit(matches: Mapping[str, StringMatch], headers: Mapping[str, str]) -> bool:
    """Every configured header is present and fits its StringMatch."""
    for name, match in matches.items():
        value = headers.get(name.lower())
        if value is None or not string_fits(match, value):
            return False
    return True
