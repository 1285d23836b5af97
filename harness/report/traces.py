"""Trace completeness, shown: which span was missing, in which traces.

The run's completeness itself is in run.json (`summary.trace_completeness`, computed
over the measured part's 2xx requests by the analysis). Here the same judge
(`harness.analysis.traces.trace_completeness`) runs over a deterministic sample of the
same requests, never warm-up's (a hash of the trace id picks them, so the sample is the
same every time) to name the spans that were missing and give examples; orphan spans
(of traces no harness request started) are counted over the whole spans table.

The call graph comes from the run's topology file when it can still be found next to
the experiment file; otherwise it is read from the spans themselves (the sidecars'
CLIENT spans name their upstream service), and the view says so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.analysis.traces import trace_completeness
from harness.report.mesh import edges
from harness.report.source import has_table, parquet, query
from harness.store.model import PhaseRecord, RunRecord
from mesh_runtime.errors import MeshproofError
from mesh_runtime.topology import load_topology

SAMPLE = 20_000
"""At most this many 2xx requests are judged for examples (a large run's spans are many)."""


@dataclass(frozen=True)
class TraceView:
    """What the Run page and the HTML report show about traces."""

    judged: int
    complete: int
    missing: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, object]] = field(default_factory=list)
    orphan_spans: int = 0
    orphan_traces: int = 0
    broken_parent_spans: int = 0
    graph_from: str = "topology"
    ingress: str = ""


@dataclass(frozen=True)
class CallGraph:
    ingress: str
    calls: dict[str, list[str]]
    source: str


def missing_text(example: dict[str, object]) -> str:
    """'frontend handle, cart sidecar inbound': an example's missing spans, as one line."""
    missing = example.get("missing", [])
    return ", ".join(map(str, missing)) if isinstance(missing, list | tuple) else str(missing)


def missing_counts(examples: list[dict[str, object]]) -> Counter[str]:
    """Missing span label -> how many times, over the examples ('cart handle x2' counts 2).
    Only a trailing ' x<digits>' is a count: a service may be named 'xcache'."""
    missing: Counter[str] = Counter()
    for example in examples:
        labels = example.get("missing", [])
        for label in labels if isinstance(labels, list) else []:
            name, sep, times = str(label).rpartition(" x")
            if sep and times.isdigit():
                missing[name] += int(times)
            else:
                missing[str(label)] += 1
    return missing


def call_graph(record: RunRecord, run_dir: Path) -> CallGraph | None:
    """The run's call graph: its topology file if found, else inferred from spans."""
    spec = record.experiment.spec
    topology = str(spec.get("target", {}).get("topology", "")) if isinstance(spec, dict) else ""
    if topology and record.experiment.file:
        relative = Path(record.experiment.file).parent / topology
        for base in (Path.cwd(), Path(run_dir).resolve().parents[1]):
            try:
                loaded = load_topology(base / relative)
            except (MeshproofError, OSError):
                continue
            return CallGraph(loaded.ingress, loaded.traced_call_graph(), "topology")
    return _inferred(run_dir)


def _inferred(run_dir: Path) -> CallGraph | None:
    found = edges(run_dir, None)
    if found.empty or not has_table(run_dir, "spans"):
        return None
    calls: dict[str, list[str]] = {}
    for row in found.itertuples(index=False):
        calls.setdefault(str(row.source), []).append(str(row.destination))
        calls.setdefault(str(row.destination), [])
    callees = {c for targets in calls.values() for c in targets}
    roots = sorted(s for s in calls if s not in callees)
    if len(roots) != 1:
        return None
    return CallGraph(roots[0], calls, "spans")


def spec_entries(record: RunRecord) -> dict[str, str]:
    """The run's routes that enter at a service behind the ingress's sidecar (gRPC routes:
    `harness.spec.load.route_entries`), read from the experiment as run.json keeps it."""
    spec = record.experiment.spec
    load = spec.get("load") if isinstance(spec, dict) else None
    routes = load.get("routes") if isinstance(load, dict) else None
    out: dict[str, str] = {}
    for route in routes if isinstance(routes, list) else []:
        grpc = route.get("grpc") if isinstance(route, dict) else None
        if isinstance(grpc, dict) and isinstance(grpc.get("service"), str):
            out[str(route.get("name", "root"))] = grpc["service"]
    return out


def trace_view(record: RunRecord, run_dir: Path, examples: int = 10) -> TraceView | None:
    """Missing spans, examples and orphans; None when the run recorded no spans."""
    if not has_table(run_dir, "spans") or not has_table(run_dir, "requests"):
        return None
    graph = call_graph(record, run_dir)
    if graph is None:
        return None
    requests, spans = _sample(run_dir, record.whole_phase())
    report = trace_completeness(
        spans,
        requests,
        graph.calls,
        graph.ingress,
        record.mode,
        examples=len(requests),
        entries=spec_entries(record),
    )
    missing = missing_counts(report.examples)
    orphans = _orphans(run_dir)
    return TraceView(
        judged=report.requests,
        complete=report.complete,
        missing=dict(missing.most_common()),
        examples=report.examples[:examples],
        orphan_spans=orphans[0],
        orphan_traces=orphans[1],
        broken_parent_spans=report.broken_parent_spans,
        graph_from=graph.source,
        ingress=graph.ingress,
    )


def _sample(run_dir: Path, whole: PhaseRecord | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The judged requests (2xx, of the measured part: as the summary's completeness) and
    their spans; a hash of the trace id picks at most SAMPLE of them."""
    requests_file = parquet(run_dir, "requests")
    measured = "status BETWEEN 200 AND 299"
    bounds: list[object] = []
    if whole is not None:
        measured += " AND intended_s >= ? AND intended_s < ?"
        bounds = [whole.start_s, whole.end_s]
    count = query(
        f"SELECT count(*) AS n FROM read_parquet(?) WHERE {measured}", [requests_file, *bounds]
    )["n"].iloc[0]
    keep = min(1.0, SAMPLE / max(int(count), 1))
    picked = f"(hash(trace_id) % 1000000) < {int(keep * 1_000_000)}"
    requests = query(
        f"""SELECT trace_id, status, intended_s, route FROM read_parquet(?)
            WHERE {measured} AND trace_id IS NOT NULL AND {picked}""",
        [requests_file, *bounds],
    )
    spans = query(
        f"""SELECT trace_id, span_id, parent_span_id, name, kind, service, attributes
            FROM read_parquet(?) WHERE {picked}""",
        [parquet(run_dir, "spans")],
    )
    return requests, spans


def _orphans(run_dir: Path) -> tuple[int, int]:
    sql = """SELECT count(*) AS spans, count(DISTINCT s.trace_id) AS traces
             FROM read_parquet(?) AS s
             ANTI JOIN (SELECT trace_id FROM read_parquet(?)) AS r USING (trace_id)"""
    row = query(sql, [parquet(run_dir, "spans"), parquet(run_dir, "requests")]).iloc[0]
    return int(row["spans"]), int(row["traces"])
