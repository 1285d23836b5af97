"""A small but realistic run directory, made with meshproof's own analysis and writer.

The shop topology (experiments/topologies/shop.yaml) under open-loop load; 10 s into
the measured run one catalog replica answers 503 for 10 s: errors and latency rise
(retries hide most of the 503s), two ejections and retries are counted, and the run
recovers within about two seconds after the fault ends. Traces follow the call graph,
with about 1 % missing a span and a few orphan traces. The SLOs include one that fails
(`max_error_rate_1s` during the fault), so the report shows both results.

    python -m tests.fixtures.make_run reports/      # prints the run directory

The dashboard and compare work can develop against this before real runs exist.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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
from harness.analysis.records import normalize_requests
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
from mesh_runtime.topology import Topology, load_topology

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


@dataclass(frozen=True)
class Timeline:
    warmup: float
    end: float
    fault_start: float
    fault_end: float


def on_time_requests(times: np.ndarray, latency: np.ndarray, failing: np.ndarray) -> pd.DataFrame:
    """Requests sent at their intended `times`, answered after `latency` ms, 503 where
    `failing` else 200, each with a trace id: normalized as the analysis reads them."""
    return normalize_requests(
        pd.DataFrame(
            {
                "intended_s": times,
                "sent_s": times,
                "latency_ms": latency,
                "corrected_ms": latency,
                "status": np.where(failing, 503, 200),
                "trace_id": [f"{i:032x}" for i in range(len(times))],
            }
        )
    )


def synthetic_requests(
    rng: np.random.Generator, rps: float, line: Timeline, behind_s: float = 0.0
) -> pd.DataFrame:
    """Open-loop requests: errors and slow retries during the fault, a short tail after.
    With `behind_s`, the load falls behind while the fault lasts: the send lag grows to
    `behind_s` at the fault's end and is made up 2 s later."""
    return requests_between(rng, rps, line, (0, int(rps * line.end)), behind_s)


def requests_between(
    rng: np.random.Generator,
    rps: float,
    line: Timeline,
    numbers: tuple[int, int],
    behind_s: float = 0.0,
) -> pd.DataFrame:
    """The requests numbered [first, stop) of `synthetic_requests`' schedule (a big run is
    made a slice at a time; a slice draws its own random values)."""
    intended = np.arange(*numbers) / rps
    n = len(intended)
    during = (intended >= line.fault_start) & (intended < line.fault_end)
    tail = (intended >= line.fault_end) & (intended < line.fault_end + 2)
    lag = rng.exponential(0.2, n) / 1000 + np.where(during, rng.exponential(8, n) / 1000, 0)
    if behind_s:
        ramp = (intended - line.fault_start) / (line.fault_end - line.fault_start) * behind_s
        lag = lag + np.where(during, ramp, 0.0)
    latency = rng.lognormal(np.log(8.0), 0.35, n)
    retried = during & (rng.random(n) < 0.3)
    latency = latency + np.where(retried, rng.normal(60, 10, n).clip(20), 0)
    status = np.full(n, 200)
    status[during & (rng.random(n) < 0.03)] = 503
    status[tail & (rng.random(n) < 0.01)] = 503
    no_answer = during & (rng.random(n) < 0.004)
    status[no_answer] = 0
    latency[no_answer] = 1000.0
    high, low = rng.integers(1, 2**62, n), rng.integers(1, 2**62, n)
    trace_ids = [f"{a:016x}{b:016x}" for a, b in zip(high, low, strict=True)]
    return pd.DataFrame(
        {
            "intended_s": intended,
            "sent_s": intended + lag,
            "latency_ms": latency,
            "corrected_ms": latency + lag * 1000,
            "status": status,
            "bytes": np.where(status == 200, 512, 0),
            "route": np.where(rng.random(n) < 0.8, "root", "catalog"),
            "method": "GET",
            "trace_id": trace_ids,
            "error": pd.Series(np.where(no_answer, "ConnectionResetError", "")).replace("", None),
        }
    )


def synthetic_spans(
    rng: np.random.Generator, requests: pd.DataFrame, topology: Topology
) -> pd.DataFrame:
    """The spans of every request, as the sidecars and services would export them."""
    rows: list[dict[str, object]] = []
    graph = topology.call_graph()
    for index, request in enumerate(requests.itertuples(index=False)):
        start_ns = int(request.sent_s * 1e9)
        ids = iter(f"{(index << 20) + k + 1:016x}" for k in range(1000))
        trace: list[dict[str, object]] = []
        _visit(trace, ids, graph, topology.ingress, "f" * 16, start_ns, request.trace_id)
        if request.status != 200:
            trace = [s for s in trace if not str(s["service"]).startswith(("catalog", "cart"))]
        elif rng.random() < 0.01:
            del trace[int(rng.integers(1, len(trace)))]
        rows.extend(trace)
    for orphan in range(5):
        trace_id = f"{orphan + 1:032x}"
        rows.append(
            _span(
                trace_id, f"{orphan + 1:016x}", "", "inventory handle", "SERVER", "inventory", 0, {}
            )
        )
    return pd.DataFrame(rows)


def _visit(
    trace: list[dict[str, object]],
    ids: Iterator[str],
    graph: dict[str, list[str]],
    service: str,
    parent: str,
    start_ns: int,
    trace_id: str,
) -> None:
    inbound, handle = next(ids), next(ids)
    role = {"meshproof.role": "sidecar"}
    trace.append(
        _span(trace_id, inbound, parent, f"{service} inbound", "SERVER", service, start_ns, role)
    )
    trace.append(
        _span(
            trace_id,
            handle,
            inbound,
            f"{service} handle",
            "SERVER",
            service,
            start_ns + 100_000,
            {},
        )
    )
    for callee in graph[service]:
        outbound = next(ids)
        attributes = {**role, "upstream_cluster": f"outbound|80||{callee}"}
        trace.append(
            _span(
                trace_id,
                outbound,
                handle,
                f"{service} outbound",
                "CLIENT",
                service,
                start_ns + 200_000,
                attributes,
            )
        )
        _visit(trace, ids, graph, callee, outbound, start_ns + 300_000, trace_id)


def _span(
    trace_id: str,
    span_id: str,
    parent: str,
    name: str,
    kind: str,
    service: str,
    start_ns: int,
    attributes: dict[str, str],
) -> dict[str, object]:
    span = (trace_id, span_id, parent, name, kind, service)
    return span_record(*span, (start_ns, start_ns + 2_000_000), "OK", attributes)


def span_record(
    trace_id: str,
    span_id: str,
    parent: str,
    name: str,
    kind: str,
    service: str,
    times_ns: tuple[int, int],
    status_code: str,
    attributes: Mapping[str, object],
) -> dict[str, object]:
    """One line of spans.jsonl as the trace sink writes it (instance `<service>-0`)."""
    start_ns, end_ns = times_ns
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "kind": kind,
        "service": service,
        "instance": f"{service}-0",
        "start_ns": start_ns,
        "end_ns": end_ns,
        "status_code": status_code,
        "attributes": json.dumps(attributes),
    }


def synthetic_resources(
    rng: np.random.Generator, topology: Topology, line: Timeline
) -> pd.DataFrame:
    """psutil-style samples of every sidecar and service, once a second."""
    rows = []
    for t in np.arange(0.5, line.end, 1.0):
        busy = 1.4 if line.fault_start <= t < line.fault_end else 1.0
        for pid, instance in enumerate(topology.instances(), start=1000):
            for role, cores, rss in (("sidecar", 0.012, 48.0), ("service", 0.008, 36.0)):
                rows.append(
                    {
                        "t_s": float(t),
                        "role": role,
                        "name": instance.name,
                        "pid": pid if role == "sidecar" else pid + 100,
                        "cpu_s": float(t * cores),
                        "cpu_cores": cores * busy * rng.uniform(0.9, 1.1),
                        "rss_mb": rss + rng.uniform(0, 2),
                    }
                )
    return pd.DataFrame(rows)


def synthetic_probe(rng: np.random.Generator, line: Timeline) -> pd.DataFrame:
    """The disturbance probe's rows: a quiet host, a little busier while the fault lasts."""
    rows = []
    for second in range(int(line.end)):
        busier = line.fault_start <= second < line.fault_end
        rows.append(
            {
                "second": second,
                "wakeups": 200,
                "sched_lag_p50_ms": 0.1,
                "sched_lag_p99_ms": float(rng.uniform(0.3, 0.6 if busier else 0.4)),
                "sched_lag_max_ms": float(rng.uniform(0.6, 2.0)),
                "steal_share": 0.0,
                "iowait_share": 0.001,
                "busy_cores": 0.9 if busier else 0.7,
                "load1": 1.2 if busier else 0.8,
                "harness_cores": 0.2,
                "probe_cpu_cores": 0.009,
            }
        )
    return pd.DataFrame(rows)


def proxied_series(topology: Topology, rps: float) -> list[tuple[dict[str, str], float]]:
    """istio_requests_total series (labels, requests per second) of every sidecar.

    Each sidecar counts each request it proxies once: the ingress's inbound side
    (reporter="destination"), and per call edge the caller's outbound side
    (reporter="source") and the callee's inbound side; a service's replicas share its load.
    """
    sides = [("destination", topology.ingress, topology.ingress)]
    for edge in topology.edges():
        sides.append(("source", edge.source, edge.destination))
        sides.append(("destination", edge.destination, edge.destination))
    series = []
    for reporter, service, destination in sides:
        names = [i.name for i in topology.instances() if i.service == service]
        for name in names:
            labels = {"reporter": reporter, "instance": name, "destination_service": destination}
            series.append((labels, rps / len(names)))
    return series


def synthetic_metrics(line: Timeline, topology: Topology, rps: float) -> pd.DataFrame:
    """Raw counter samples as a Prometheus range query returns them (1 s step)."""
    rows = []
    retries = ejections = 0.0
    proxied = proxied_series(topology, rps)
    for t in np.arange(1.0, line.end + 1, 1.0):
        if line.fault_start <= t < line.fault_end:
            retries += 15
        if t in (line.fault_start + 1, line.fault_start + 6):
            ejections += 1
        samples = [("istio_requests_total", labels, t * rate) for labels, rate in proxied]
        samples += [
            ("meshproof_config_version", {"instance": "gateway-0"}, 1.0),
            ("meshproof_retries_total", {"destination_service": "catalog"}, retries),
        ]
        if ejections:
            labels = {"destination_service": "catalog", "instance": "catalog-0"}
            samples.append(("meshproof_outlier_ejections_total", labels, ejections))
        for metric, labels, value in samples:
            rows.append(
                {
                    "t_s": float(t),
                    "metric": metric,
                    "labels": json.dumps(labels),
                    "value": float(value),
                }
            )
    return pd.DataFrame(rows)


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
