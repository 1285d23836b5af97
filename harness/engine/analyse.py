"""From what a run measured to its phases, tables, summaries and verdicts.

The engine's glue over `harness.analysis` and `harness.judge`: no I/O here except what
the caller hands in (record files are read by `read_requests`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from harness.analysis import (
    RunFrames,
    TraceReport,
    compute_windows,
    experiment_phases,
    read_requests,
    summarize,
    trace_completeness,
    unmeasured_metrics,
    with_phase,
)
from harness.analysis.cpu_split import cpu_split
from harness.analysis.hdr import (
    PRECISION,
    HdrPercentiles,
    hdr_percentiles,
    read_histogram_logs,
    with_hdr,
    with_hdr_values,
)
from harness.analysis.host import host_seconds, with_host, with_host_summaries
from harness.analysis.recovery import experiment_criteria
from harness.analysis.stats import percentile
from harness.engine.interleaved import BLOCK_WARMUP_S, overhead_rounds
from harness.judge import judge, wakeups_per_request
from harness.load.schedule import Schedule
from harness.observe.dialects import MESHPROOF, BoundDialect
from harness.spec.experiment import Experiment
from harness.spec.load import RouteSpec, route_entries
from harness.store.model import (
    CpuSplit,
    FaultEvent,
    HdrPrecision,
    PhaseRecord,
    PhaseSummary,
    Summary,
    Verdict,
)
from mesh_runtime.topology import MeshMode, Topology


@dataclass(frozen=True, eq=False)
class Measured:
    """What the observers and the load driver collected."""

    record_files: Sequence[Path]
    resources: pd.DataFrame | None
    metrics: pd.DataFrame | None
    spans: pd.DataFrame | None
    host: pd.DataFrame | None = None
    """The disturbance probe's table (`harness.observe.disturbance`)."""
    histogram_files: Sequence[Path] = ()
    """The load workers' HDR histogram logs (`harness.load.hdr`)."""
    dialect: BoundDialect | None = None
    """The metric dialect `metrics` was queried in (None: the reference mesh's)."""
    unmeasured: frozenset[str] = frozenset()
    """Metrics the observers had nothing to measure from (an external target's OTLP
    receiver that took no span: `trace_completeness`); their SLOs are not judged."""


@dataclass(frozen=True, eq=False)
class Analysis:
    requests: pd.DataFrame
    windows: pd.DataFrame
    phases: list[PhaseRecord]
    summaries: dict[str, PhaseSummary]
    verdicts: list[Verdict]
    summary: Summary
    traces: TraceReport | None
    wakeups: int = 0
    """The wake-ups one request meets, against which the host's disturbance was weighed."""
    hdr: HdrPrecision | None = None
    """The precision of the windows' and phases' `hdr_*` percentiles (None: no histograms)."""
    cpu: CpuSplit | None = None
    """The measured part's CPU by sidecars, apps, harness and the rest."""

    def without_requests(self) -> Analysis:
        """This analysis, its requests frame let go of (once requests.parquet holds it:
        at ten million requests it is over a gigabyte)."""
        return replace(self, requests=self.requests.iloc[:0].copy())  # a slice would keep them


def analyse(
    experiment: Experiment,
    topology: Topology,
    mode: str,
    faults: Sequence[FaultEvent],
    measured: Measured,
    end_s: float | None = None,
    interleaved: pd.DataFrame | None = None,
) -> Analysis:
    """Phases, per-second windows, per-phase summaries and the SLO verdicts of a run.

    `end_s` is where an aborted run stopped; `interleaved` the requests of the interleaved
    blocks (`target.compare_to`), from which `overhead_p99_ms` is computed.
    """
    phases = experiment_phases(experiment, faults, end_s)
    requests = with_phase(read_requests(measured.record_files), phases)
    host = host_seconds(measured.host, measured.resources)
    hdr = _hdr(measured.histogram_files, phases)
    windows = with_host(compute_windows(requests, phases), host)
    if hdr is not None:
        windows = with_hdr(windows, hdr.windows)
    traces = None
    if measured.spans is not None:
        traces = trace_completeness(
            measured.spans,
            requests,
            topology.traced_call_graph(),
            topology.ingress,
            _mode(mode),
            entries=route_entries(experiment.load.routes),
        )
    frames = RunFrames(
        requests,
        windows,
        measured.resources,
        measured.metrics,
        traces,
        schedule=Schedule.of(experiment.load),
        dialect=measured.dialect or MESHPROOF.bind(),
    )
    summaries = summarize(frames, phases, faults, experiment.slos, experiment_criteria(experiment))
    other = experiment.target.compare_to
    if interleaved is not None and other is not None:
        summaries = with_overhead(summaries, interleaved, mode, other)
    summaries = with_host_summaries(summaries, host, windows)
    if hdr is not None:
        summaries = with_hdr_values(summaries, hdr.phases)
    wakeups = wakeups_of(topology, mode, experiment.load.routes)
    unmeasured = unmeasured_metrics(frames.dialect) | measured.unmeasured
    verdicts = judge(experiment.slos, summaries, wakeups, stopped_s=end_s, unmeasured=unmeasured)
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
        wakeups=wakeups,
        hdr=PRECISION if hdr is not None else None,
        cpu=cpu_split(
            measured.resources,
            PhaseRecord(name=whole.phase, start_s=whole.start_s, end_s=whole.end_s),
            whole.value("rps"),
        ),
    )


def _hdr(files: Sequence[Path], phases: Sequence[PhaseRecord]) -> HdrPercentiles | None:
    """The HDR percentiles of the workers' histogram logs; None when there are none."""
    return hdr_percentiles(read_histogram_logs(files), phases) if files else None


def with_overhead(
    summaries: dict[str, PhaseSummary], interleaved: pd.DataFrame, mode: str, other: str
) -> dict[str, PhaseSummary]:
    """`overhead_p99_ms` of the `whole` phase, from the interleaved blocks."""
    overhead = overhead_rounds(interleaved, mode, other)["overhead_p99_ms"]
    whole = summaries["whole"]
    values = dict(whole.values)
    notes = {k: v for k, v in whole.notes.items() if k != "overhead_p99_ms"}
    values["overhead_p99_ms"] = overhead
    if overhead is None:
        notes["overhead_p99_ms"] = "one of the two deployments answered no request"
    out = dict(summaries)
    out["whole"] = whole.model_copy(update={"values": values, "notes": notes})
    return out


def interleaved_summary(interleaved: pd.DataFrame, mode: str, other: str) -> PhaseSummary:
    """The interleaved blocks' numbers, kept in run.json as phase `compare:<other>`: the
    other mode's blocks (requests, error rate, percentiles) and the overhead with its spread."""
    measured = interleaved[interleaved["intended_s"] >= BLOCK_WARMUP_S]
    blocks = measured[measured["mode"] == other]
    failed = (blocks["status"] >= 500) | (blocks["status"] == 0)
    values: dict[str, float | None] = {
        "requests": float(len(blocks)),
        "error_rate": float(failed.mean()) if len(blocks) else None,
        "p50_ms": percentile(blocks["latency_ms"], 0.5),
        "p90_ms": percentile(blocks["latency_ms"], 0.9),
        "p999_ms": percentile(blocks["latency_ms"], 0.999),
    }
    values.update(overhead_rounds(interleaved, mode, other))
    end = float(measured["intended_s"].max()) if len(measured) else BLOCK_WARMUP_S
    return PhaseSummary(phase=f"compare:{other}", start_s=BLOCK_WARMUP_S, end_s=end, values=values)


def wakeups_of(topology: Topology, mode: str, routes: Sequence[RouteSpec] = ()) -> int:
    """The most wake-ups one request of the load's routes meets in this deployment
    (`harness.judge.disturbance`): an HTTP route's from the ingress, a gRPC or TCP route's
    from the service it calls at the ingress's sidecar."""
    proxied = {(edge.source, edge.destination) for edge in topology.proxied_edges()}
    entries = {route.entry for route in routes} or {None}
    graph, ingress = topology.call_graph(), topology.ingress
    return max(wakeups_per_request(graph, ingress, proxied, _mode(mode), e) for e in entries)


def _mode(mode: str) -> MeshMode:
    return "no-mesh" if mode == "no-mesh" else "mesh"
