"""Traces of gRPC and TCP topologies in the HTML report and the dashboard: a gRPC route
is judged (and drawn) from the service it calls at the gateway's sidecar, and a tcp
callee's spans are never expected (a raw TCP connection carries no trace context), as in
run.json's completeness."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from harness.report.trace_pick import expected_of
from harness.report.traces import spec_entries, trace_view
from harness.store.model import ExperimentRef, RunRecord
from tests.fixtures.make_run import span_record

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"
TRACE = "ab" * 16
TIMES = (1_000_000_000, 2_000_000_000)
CATALOG = {
    "gateway sidecar outbound -> catalog": 1,
    "catalog sidecar inbound": 1,
    "catalog handle": 1,
}


def record(name: str) -> RunRecord:
    """A run of experiments/<name>.yaml as run.json keeps it, written before run.json
    had `expected_by_route`."""
    path = EXPERIMENTS / f"{name}.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    return RunRecord(
        id="r",
        experiment=ExperimentRef(name=name, file=str(path), spec=spec),
        started_at="2026-12-07T00:00:00Z",
    )


def span(sid: str, parent: str, name: str, kind: str, service: str, upstream: str = "") -> dict:
    row = span_record(TRACE, sid, parent, name, kind, service, TIMES, "UNSET", {})
    row["attributes"] = json.dumps({"upstream_cluster": upstream} if upstream else {})
    return row


def run_dir(tmp_path: Path, spans: list[dict], route: str) -> Path:
    """A run directory holding one request of `route`, answered 200, and its spans."""
    pd.DataFrame(spans).to_parquet(tmp_path / "spans.parquet")
    request = {
        "intended_s": 1.0,
        "sent_s": 1.0,
        "latency_ms": 5.0,
        "corrected_ms": 5.0,
        "status": 200,
        "bytes": 70,
        "route": route,
        "method": "GET",
        "trace_id": TRACE,
        "error": "",
        "phase": "before",
    }
    pd.DataFrame([request]).to_parquet(tmp_path / "requests.parquet")
    return tmp_path


def test_the_grpc_routes_are_read_from_the_experiment() -> None:
    """run.json's experiment names catalog-grpc as a gRPC route to catalog; shop is HTTP."""
    assert spec_entries(record("grpc-retries")) == {"catalog-grpc": "catalog"}


def test_a_grpc_call_with_every_span_is_complete_in_the_trace_view(tmp_path: Path) -> None:
    """The view judges the call from catalog: complete, nothing missing, no lost parent
    (it had listed the whole shop's spans from the gateway as missing)."""
    spans = [
        span("a1", "ff", "outbound", "CLIENT", "gateway", upstream="catalog"),
        span("b1", "a1", "inbound", "SERVER", "catalog"),
        span("c1", "b1", "catalog handle", "SERVER", "catalog"),
    ]
    view = trace_view(record("grpc-retries"), run_dir(tmp_path, spans, "catalog-grpc"))
    assert view is not None
    assert (view.judged, view.complete, view.missing) == (1, 1, {})
    assert view.broken_parent_spans == 0


def test_a_grpc_trace_is_drawn_against_its_own_spans(tmp_path: Path) -> None:
    """The waterfall's expected spans for a gRPC route's trace are catalog's, not the
    shop's from the gateway's inbound listener."""
    assert expected_of(record("grpc-retries"), tmp_path, "catalog-grpc") == CATALOG
    assert "gateway sidecar inbound" in expected_of(record("grpc-retries"), tmp_path, "shop")


def test_a_tcp_callee_is_not_expected_in_the_trace_view(tmp_path: Path) -> None:
    """shop-tcp (gateway -> cart, gateway -> kv, cart -> kv; kv is tcp): a request with
    the gateway's and cart's spans is complete, as run.json judged it (the view had
    expected kv's spans and called every trace incomplete)."""
    spans = [
        span("a1", "ff", "inbound", "SERVER", "gateway"),
        span("a2", "a1", "gateway handle", "SERVER", "gateway"),
        span("a3", "a2", "outbound", "CLIENT", "gateway", upstream="cart"),
        span("b1", "a3", "inbound", "SERVER", "cart"),
        span("b2", "b1", "cart handle", "SERVER", "cart"),
    ]
    view = trace_view(record("tcp-partition"), run_dir(tmp_path, spans, "shop"))
    assert view is not None
    assert (view.judged, view.complete, view.missing) == (1, 1, {})
