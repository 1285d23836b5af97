"""A small but realistic run directory, made with meshproof's own analysis and writer.

The shop topology (experiments/topologies/shop.yaml) under open-loop load; 10 s into
the measured run one catalog replica answers 503 for 10 s: errors and latency rise
(retries hide most of the 503s), two ejections and retries are counted, and the run
recovers within about two seconds after the fault ends. Traces follow the call graph,
with about 1 % missing a span and a few orphan traces. The SLOs include one that fails
(`max_error_rate_1s` during the fault), so the report shows both results.

    python -m tests.fixtures.make_run reports/      # prints the run directory

The dashboard and compare work can develop against this before real runs exist. Its
tables are drawn by synthetic_traffic (requests, spans) and synthetic_samples (resources,
the host probe, metrics); this module makes the experiment, its record and the run of them.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis import (
    RunFrames,
    compute_windows,
    experiment_phases,
    summarize,
    trace_completeness,
    with_phase,
)
from harness.analysis.host import host_seconds, with_host, with_host_summaries
from harness.bench.synthetic_samples import (
    synthetic_metrics,
    synthetic_probe,
    synthetic_resources,
)
from harness.bench.synthetic_traffic import Timeline, synthetic_requests, synthetic_spans
from harness.judge import judge, run_status
from harness.load.schedule import Schedule
from harness.report.run_files import run_files
from harness.spec import Experiment
from harness.store import (
    Environment,
    ExperimentRef,
    FaultEvent,
    PhaseRecord,
    RunRecord,
    RunWriter,
    Summary,
    ToolVersions,
    iso_utc,
)
from mesh_runtime.topology import load_topology

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "experiments" / "topologies" / "shop.yaml"
FAULT = "catalog-503"
SLOS = [
    "error_rate < 0.02",
    "p99_ms < 250",
    "error_rate < 0.05 during:catalog-503",
    "max_error_rate_1s < 0.02 during:catalog-503",
    "recovery_s < 10 during:catalog-503",
    "trace_completeness >= 0.95",
    "sidecar_cpu_per_krps < 0.5",
]


def fixture_experiment(rps: float = 50.0, duration_s: float = 40.0) -> Experiment:
    """The experiment the fixture run pretends to have run."""
    return Experiment.model_validate(
        {
            "title": "One catalog replica answers 503 for 10 s",
            "description": "Do retries and outlier ejection keep user-facing errors low?",
            "target": {"topology": "topologies/shop.yaml"},
            "load": {"rps": rps, "duration": duration_s, "warmup": 5},
            "faults": [
                {
                    "name": FAULT,
                    "kind": "service_behaviour",
                    "target": "catalog-0",
                    "at": "10s",
                    "duration": "10s",
                    "params": {"error_rate": 1.0, "error_status": 503},
                }
            ],
            "slos": SLOS,
        }
    )


def make_run(
    reports_dir: Path,
    *,
    seed: int = 7,
    rps: float = 50.0,
    duration_s: float = 40.0,
    started_at: datetime | None = None,
    name: str = FAULT,
    behind_s: float = 0.0,
) -> Path:
    """Write the fixture run into `reports_dir`; returns its directory. `behind_s`: the
    load falls that far behind its schedule during the fault (see synthetic_requests)."""
    rng = np.random.default_rng(seed)
    experiment = fixture_experiment(rps, duration_s)
    topology = load_topology(SHOP)
    line, faults = fault_timeline(experiment)
    phases = experiment_phases(experiment, faults)
    requests = with_phase(synthetic_requests(rng, rps, line, behind_s), phases)
    spans = synthetic_spans(rng, requests, topology)
    resources = synthetic_resources(rng, topology, line)
    host = host_seconds(synthetic_probe(rng, line), resources)
    windows = with_host(compute_windows(requests, phases), host)
    report = trace_completeness(spans, requests, topology.call_graph(), topology.ingress, "mesh")
    metrics = synthetic_metrics(line, topology, rps)
    frames = RunFrames(requests, windows, resources, metrics, report, Schedule.of(experiment.load))
    summaries = with_host_summaries(
        summarize(frames, phases, faults, experiment.slos), host, windows
    )
    verdicts = judge(experiment.slos, summaries)
    started = started_at or datetime(2026, 11, 27, 15, 40, tzinfo=UTC)
    writer = RunWriter(reports_dir, name, started)
    record = writer.write_record(first_record(experiment, name, started, phases, faults))
    tables = {"requests": requests, "windows": windows, "metrics": metrics,
              "resources": resources, "spans": spans, "events": synthetic_events(line)}  # fmt: skip
    for table, frame in tables.items():
        writer.write_table(table, frame)
    measured = int((requests["phase"] != "warmup").sum())
    final = record.model_copy(
        update={
            "status": run_status(verdicts, aborted=False),
            "ended_at": iso_utc(started + timedelta(seconds=line.end)),
            "duration_s": line.end,
            "verdicts": verdicts,
            "summary": Summary.from_phase(measured, summaries["whole"]),
            "phase_summaries": list(summaries.values()),
            "host": summaries["whole"].host,
            "traces": report.summary(),
        }
    )
    writer.finish(final, run_files(windows))
    return writer.path


def fault_timeline(experiment: Experiment) -> tuple[Timeline, list[FaultEvent]]:
    """The timeline and the fault as the engine would have applied it (on time)."""
    spec = experiment.faults[0]
    start = experiment.load.warmup + spec.at
    end = start + (spec.duration or 0)
    line = Timeline(experiment.load.warmup, experiment.load.total_duration, start, end)
    params = spec.model_dump(mode="json", exclude_none=True)["params"]
    fault = FaultEvent(
        name=spec.name, kind=spec.kind, target=spec.target, start_s=start, end_s=end, params=params
    )
    return line, [fault]


def first_record(
    experiment: Experiment,
    name: str,
    started: datetime,
    phases: list[PhaseRecord],
    faults: list[FaultEvent],
) -> RunRecord:
    """run.json as the engine writes it when the run starts (status running)."""
    return RunRecord(
        id="",
        experiment=ExperimentRef(
            name=name,
            title=experiment.title,
            file=f"experiments/{name}.yaml",
            spec=experiment.model_dump(mode="json"),
        ),
        started_at=iso_utc(started),
        environment=Environment(
            hostname="fixture",
            python="3.11",
            meshproof="0.1.0",
            sidecar_version="0.1.0",
            tools=ToolVersions(prometheus="2.45.3", toxiproxy="2.9.0", locust="2.31.0"),
        ),
        phases=phases,
        faults=faults,
    )


def synthetic_events(line: Timeline) -> pd.DataFrame:
    """The engine's event log: phases and the fault applied and reverted."""
    return pd.DataFrame(
        [
            {"t_s": 0.0, "kind": "phase", "name": "warmup", "detail": "load started"},
            {"t_s": line.warmup, "kind": "phase", "name": "measured", "detail": ""},
            {"t_s": line.fault_start, "kind": "fault", "name": FAULT, "detail": "applied"},
            {"t_s": line.fault_end, "kind": "fault", "name": FAULT, "detail": "reverted"},
            {"t_s": line.end, "kind": "phase", "name": "end", "detail": "load stopped"},
        ]
    )


if __name__ == "__main__":
    print(make_run(Path(sys.argv[1] if len(sys.argv) > 1 else "reports")))
