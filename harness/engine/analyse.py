"""From what a run measured to its phases, tables, summaries and verdicts.

The engine's glue over `harness.analysis` and `harness.judge`: no I/O here except what
the caller hands in (record files are read by `read_records`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.analysis import (
    RunFrames,
    TraceReport,
    compute_windows,
    experiment_phases,
    read_records,
    summarize,
    trace_completeness,
    with_phase,
)
from harness.analysis.stats import percentile
from harness.judge import judge
from harness.spec.experiment import Experiment
from harness.store.model import FaultEvent, PhaseRecord, PhaseSummary, Summary, Verdict
from mesh_runtime.topology import MeshMode, Topology


@dataclass(frozen=True, eq=False)
class Measured:
    """What the observers and the load driver collected."""

    record_files: Sequence[Path]
    resources: pd.DataFrame | None
    metrics: pd.DataFrame | None
    spans: pd.DataFrame | None


@dataclass(frozen=True, eq=False)
class Analysis:
    requests: pd.DataFrame
    windows: pd.DataFrame
    phases: list[PhaseRecord]
    summaries: dict[str, PhaseSummary]
    verdicts: list[Verdict]
    summary: Summary
    traces: TraceReport | None


def analyse(
    experiment: Experiment,
    topology: Topology,
    mode: str,
    faults: Sequence[FaultEvent],
    measured: Measured,
    end_s: float | None = None,
    compare: pd.DataFrame | None = None,
) -> Analysis:
    """Phases, per-second windows, per-phase summaries and the SLO verdicts of a run.

    `end_s` is where an aborted run stopped; `compare` the requests of the comparison
    deployment (`target.compare_to`), from which `overhead_p99_ms` is computed.
    """
    phases = experiment_phases(experiment, faults, end_s)
    requests = with_phase(read_records(measured.record_files), phases)
    windows = compute_windows(requests, phases)
    traces = None
    if measured.spans is not None:
        traces = trace_completeness(
            measured.spans, requests, topology.call_graph(), topology.ingress, _mode(mode)
        )
    frames = RunFrames(requests, windows, measured.resources, measured.metrics, traces)
    summaries = summarize(frames, phases, faults, experiment.slos)
    if compare is not None:
        summaries = with_overhead(summaries, requests, compare, experiment.load.warmup)
    verdicts = judge(experiment.slos, summaries)
    whole = summaries["whole"]
    measured_requests = int((requests["phase"] != "warmup").sum()) if len(requests) else 0
    return Analysis(
        requests=requests,
        windows=windows,
        phases=phases,
        summaries=summaries,
        verdicts=verdicts,
        summary=Summary.from_phase(measured_requests, whole),
        traces=traces,
    )


def with_overhead(
    summaries: dict[str, PhaseSummary],
    requests: pd.DataFrame,
    compare: pd.DataFrame,
    warmup_s: float,
) -> dict[str, PhaseSummary]:
    """`overhead_p99_ms` of the `whole` phase: this run's p99 minus the comparison's."""
    own = percentile(requests.loc[requests["intended_s"] >= warmup_s, "latency_ms"], 0.99)
    other = percentile(compare.loc[compare["intended_s"] >= warmup_s, "latency_ms"], 0.99)
    whole = summaries["whole"]
    values = dict(whole.values)
    notes = {k: v for k, v in whole.notes.items() if k != "overhead_p99_ms"}
    if own is None or other is None:
        values["overhead_p99_ms"] = None
        notes["overhead_p99_ms"] = "one of the two deployments answered no request"
    else:
        values["overhead_p99_ms"] = own - other
    out = dict(summaries)
    out["whole"] = whole.model_copy(update={"values": values, "notes": notes})
    return out


def compare_summary(compare: pd.DataFrame, warmup_s: float, mode: str) -> PhaseSummary:
    """The comparison deployment's headline numbers, kept in run.json as `compare:<mode>`."""
    measured = compare[compare["intended_s"] >= warmup_s]
    failed = (measured["status"] >= 500) | (measured["status"] == 0)
    start = warmup_s
    end = float(measured["intended_s"].max()) if len(measured) else warmup_s
    values: dict[str, float | None] = {
        "requests": float(len(measured)),
        "error_rate": float(failed.mean()) if len(measured) else None,
        "p50_ms": percentile(measured["latency_ms"], 0.5),
        "p90_ms": percentile(measured["latency_ms"], 0.9),
        "p99_ms": percentile(measured["latency_ms"], 0.99),
        "p999_ms": percentile(measured["latency_ms"], 0.999),
    }
    return PhaseSummary(phase=f"compare:{mode}", start_s=start, end_s=end, values=values)


def _mode(mode: str) -> MeshMode:
    return "no-mesh" if mode == "no-mesh" else "mesh"
