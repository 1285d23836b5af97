"""Warnings about an experiment that validates but asks for what its faults rule out. Pure.

A `mesh_fault` is the client sidecar's own fault filter (Istio's VirtualService fault):
it acts before the route's retries and timeout. An aborted request is answered at once
with the abort status and never retried; a delay is waited out before the route's
timeout and perTryTimeout start, so it never causes a timeout or a retry. Requests the
fault lets through keep the route's retries and timeout. So an SLO that expects retries
while such a fault is on, or an error rate below the share the abort takes, is most
likely a mistake: `meshproof validate` and `run` print a warning line (exit 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.spec.experiment import Experiment
from harness.spec.faults import MeshFaultFault
from harness.spec.phase import Phase
from harness.spec.slo import SLO


@dataclass(frozen=True)
class SpecWarning:
    """One warning about the file `source` at field `path`."""

    source: str
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.source}: {self.path}: {self.problem}"


def experiment_warnings(experiment: Experiment, source: str) -> list[SpecWarning]:
    """Every warning about `experiment`, in the order of its SLOs."""
    found: list[SpecWarning] = []
    for index, slo in enumerate(experiment.slos):
        for fault in experiment.faults:
            if not isinstance(fault, MeshFaultFault):
                continue
            overlap = _overlap(experiment, slo.phase, fault)
            if overlap <= 0:
                continue
            problem = _retries_expected(slo, fault) or _errors_below_abort(slo, fault, overlap)
            if problem:
                found.append(SpecWarning(source, f"slos[{index}]", problem))
    return found


def _retries_expected(slo: SLO, fault: MeshFaultFault) -> str:
    expects = slo.metric == "retries_per_krequests" and (
        (slo.op == ">" and slo.threshold >= 0) or (slo.op in (">=", "==") and slo.threshold > 0)
    )
    if not expects:
        return ""
    return (
        f"{slo.name!r} expects mesh retries while fault {fault.name!r} ({_what(fault)}) is on:"
        " a mesh_fault acts in the calling sidecar before the route's retries and timeout;"
        " an aborted request is never retried and a delay never causes a retry"
    )


def _errors_below_abort(slo: SLO, fault: MeshFaultFault, overlap: float) -> str:
    abort = fault.params.abort
    if abort is None or fault.params.headers or slo.op not in ("<", "<="):
        return ""
    if slo.metric == "error_rate":
        share = abort.percentage / 100 * overlap
    elif slo.metric == "max_error_rate_1s":
        share = abort.percentage / 100
    else:
        return ""
    if slo.threshold >= share:
        return ""
    return (
        f"{slo.name!r}: fault {fault.name!r} aborts {abort.percentage:g} % of the requests to"
        f" {fault.target} (about {share:.3g} of this phase's requests if all of them reach it),"
        " and retries cannot mask it: an aborted request is never retried"
    )


def _what(fault: MeshFaultFault) -> str:
    parts = []
    if fault.params.abort is not None:
        parts.append(f"abort {fault.params.abort.percentage:g} %")
    if fault.params.delay is not None:
        parts.append(f"delay {fault.params.delay.percentage:g} %")
    route = f" route {fault.route}" if fault.route else ""
    return f"mesh_fault {' and '.join(parts)} on {fault.target}{route}"


def _overlap(experiment: Experiment, phase: Phase, fault: MeshFaultFault) -> float:
    """The share of `phase` (as planned) during which `fault` is on; 0 when none."""
    start, end = _window(experiment, fault.name)
    first, last = _phase(experiment, phase)
    if last <= first:
        return 0.0
    return max(0.0, min(end, last) - max(start, first)) / (last - first)


def _window(experiment: Experiment, name: str) -> tuple[float, float]:
    fault = next(f for f in experiment.faults if f.name == name)
    total = experiment.load.total_duration
    start = experiment.load.warmup + fault.at
    return start, total if fault.duration is None else min(total, start + fault.duration)


def _phase(experiment: Experiment, phase: Phase) -> tuple[float, float]:
    warmup, total = experiment.load.warmup, experiment.load.total_duration
    kind, name = phase.kind, phase.fault
    windows = [_window(experiment, f.name) for f in experiment.faults]
    if kind == "during":
        return _window(experiment, name)
    if kind == "after" and name:
        return _window(experiment, name)[1], total
    if kind == "after":
        return max((e for _, e in windows), default=total), total
    if kind == "before":
        return warmup, min((s for s, _ in windows), default=total)
    return warmup, total
