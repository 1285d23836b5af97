"""Which traces of a run to look at, and one trace's spans and request (DuckDB over Parquet).

`ready_lists` gives the Run page's lists: the slowest requests of each phase, failed
requests, incomplete traces (run.json's examples) and retried requests (a span with a
`retry.attempt` above 0). `load_trace` reads one trace's spans and the harness's record of
its request; `run_t0_s` estimates the run's t0 on the spans' clock (see
`harness.report.waterfall`). `chosen_traces` picks the HTML report's handful.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.analysis.traces import expected_spans
from harness.report.source import has_table, parquet, query
from harness.report.traces import call_graph, spec_entries
from harness.report.waterfall import HarnessRequest, WaterfallRow, waterfall_rows
from harness.store.model import RunRecord

PER_LIST = 10


@dataclass(frozen=True)
class Pick:
    trace_id: str
    why: str
    """One line: 'before: 412.0 ms', 'status 503', 'missing: catalog handle', ..."""


def ready_lists(
    record: RunRecord, run_dir: Path, per_list: int = PER_LIST, keep: bool = False
) -> dict[str, list[Pick]]:
    """List name -> picks; lists without a trace are left out (`keep`: as `query`'s)."""
    lists: dict[str, list[Pick]] = {}
    if has_table(run_dir, "requests"):
        requests = parquet(run_dir, "requests")
        slow = query(
            "SELECT phase, trace_id, latency_ms FROM (SELECT phase, trace_id, latency_ms,"
            " row_number() OVER (PARTITION BY phase ORDER BY latency_ms DESC) AS n"
            " FROM read_parquet(?) WHERE status BETWEEN 200 AND 299 AND trace_id <> '')"
            " WHERE n <= ? ORDER BY phase, latency_ms DESC",
            [requests, max(1, per_list // 3)],
            keep,
        )
        for phase, group in slow.groupby("phase", sort=False):
            lists[f"slowest ({phase})"] = [
                Pick(str(r.trace_id), f"{r.latency_ms:.1f} ms") for r in group.itertuples()
            ]
        failed = query(
            "SELECT trace_id, status, error, latency_ms FROM read_parquet(?)"
            " WHERE (status < 200 OR status > 299) AND trace_id <> ''"
            " ORDER BY intended_s LIMIT ?",
            [requests, per_list],
            keep,
        )
        lists["failed"] = [
            Pick(str(r.trace_id), f"status {r.status or 'none'} {r.error or ''}".strip())
            for r in failed.itertuples()
        ]
    if record.traces is not None:
        lists["incomplete"] = [
            Pick(str(e["trace_id"]), "missing: " + ", ".join(map(str, e.get("missing", []))))
            for e in record.traces.examples[:per_list]
        ]
    if has_table(run_dir, "spans"):
        retried = query(
            "SELECT trace_id, max(TRY_CAST(json_extract_string(attributes, '$.\"retry.attempt\"')"
            " AS INTEGER)) AS tries FROM read_parquet(?)"
            " WHERE attributes LIKE '%retry.attempt%' GROUP BY trace_id HAVING tries > 0"
            " ORDER BY tries DESC, trace_id LIMIT ?",
            [parquet(run_dir, "spans"), per_list],
            keep,
        )
        lists["retried"] = [
            Pick(str(r.trace_id), f"retry attempt {r.tries}") for r in retried.itertuples()
        ]
    return {name: picks for name, picks in lists.items() if picks}


def trace_spans(run_dir: Path, trace_id: str) -> pd.DataFrame:
    if not has_table(run_dir, "spans"):
        return pd.DataFrame()
    return query(
        "SELECT * FROM read_parquet(?) WHERE trace_id = ? ORDER BY start_ns",
        [parquet(run_dir, "spans"), trace_id],
    )


def trace_request(run_dir: Path, trace_id: str) -> HarnessRequest | None:
    if not has_table(run_dir, "requests"):
        return None
    found = query(
        "SELECT * FROM read_parquet(?) WHERE trace_id = ? LIMIT 1",
        [parquet(run_dir, "requests"), trace_id],
    )
    return None if found.empty else HarnessRequest.of(found.iloc[0].to_dict())


def run_t0_s(run_dir: Path) -> float | None:
    """The run's t0 on the spans' clock: the smallest (first span start - harness send)
    over the run's requests, i.e. t0 plus the shortest way from the harness to the mesh
    (a span never starts before the send that caused it; both clocks are this host's)."""
    if not (has_table(run_dir, "requests") and has_table(run_dir, "spans")):
        return None
    found = query(
        "SELECT min(s.first_ns / 1e9 - r.sent_s) AS t0 FROM read_parquet(?) r JOIN"
        " (SELECT trace_id, min(start_ns) AS first_ns FROM read_parquet(?) GROUP BY trace_id) s"
        " USING (trace_id)",
        [parquet(run_dir, "requests"), parquet(run_dir, "spans")],
    )
    value = found["t0"].iloc[0] if not found.empty else None
    return None if value is None or pd.isna(value) else float(value)


def expected_of(record: RunRecord, run_dir: Path, route: str = "") -> Counter[str]:
    """The span multiset a request of `route` implies (the run's call graph; a gRPC route
    enters at its service), empty without one."""
    traces = record.traces
    if traces is not None and route in traces.expected_by_route:
        return Counter(traces.expected_by_route[route])
    entry = spec_entries(record).get(route)
    if traces is not None and traces.expected and entry is None:
        return Counter(traces.expected)
    graph = call_graph(record, run_dir)
    if graph is None:
        return Counter()
    return expected_spans(graph.calls, graph.ingress, record.mode, entry)


def trace_rows(
    record: RunRecord, run_dir: Path, trace_id: str, t0_s: float | None
) -> list[WaterfallRow]:
    """The waterfall of one trace of the run (without sidecars, the call graph says under
    which caller's span a missing service's span belongs)."""
    request = trace_request(run_dir, trace_id)
    graph = call_graph(record, run_dir) if record.mode == "no-mesh" else None
    calls = graph.calls if graph is not None else None
    spans = trace_spans(run_dir, trace_id)
    expected = expected_of(record, run_dir, request.route if request is not None else "")
    return waterfall_rows(spans, request, expected, t0_s, calls)


def chosen_traces(lists: dict[str, list[Pick]]) -> list[tuple[str, Pick]]:
    """The HTML report's handful: the slowest request overall, a failed one, an
    incomplete one and a retried one (each once)."""
    chosen: list[tuple[str, Pick]] = []
    slowest = [
        (name, pick)
        for name, picks in lists.items()
        if name.startswith("slowest")
        for pick in picks[:1]
    ]
    if slowest:
        chosen.append(max(slowest, key=lambda item: float(item[1].why.split()[0])))
    for name in ("failed", "incomplete", "retried"):
        picks = [
            p for p in lists.get(name, []) if p.trace_id not in {c.trace_id for _, c in chosen}
        ]
        if picks:
            chosen.append((name, picks[0]))
    return chosen
