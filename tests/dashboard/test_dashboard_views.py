"""The report views (DuckDB aggregations, mesh tables, graph layout, trends, deltas), against known data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dashboards.data import reports_dir
from harness.cli.dashboard import streamlit_command
from harness.report import deltas, graph, mesh, requests, trends
from harness.store import load_run
from harness.store.model import PhaseRecord
from mesh_runtime.errors import InvalidInput


def test_phase_percentiles_equal_numpy_on_the_same_requests(run_dirs: dict[str, Path]) -> None:
    """Each phase's p50/p99/p99.9 (both clocks) equals numpy's linear percentile of its requests."""
    run = run_dirs["new"]
    record = load_run(run)
    table = requests.phase_percentiles(run, record.phases).set_index("phase")
    frame = pq.read_table(run / "requests.parquet").to_pandas()
    for phase in record.phases:
        if phase.name == "warmup":
            continue
        inside = frame[(frame["intended_s"] >= phase.start_s) & (frame["intended_s"] < phase.end_s)]
        row = table.loc[phase.name]
        assert row["requests"] == len(inside)
        assert math.isclose(row["p99_ms"], np.quantile(inside["latency_ms"], 0.99), rel_tol=1e-12)
        assert math.isclose(row["p999_ms"], np.quantile(inside["latency_ms"], 0.999), rel_tol=1e-12)
        assert math.isclose(
            row["corrected_p99_ms"], np.quantile(inside["corrected_ms"], 0.99), rel_tol=1e-12
        )


def test_timeline_agrees_with_the_analysis_windows(run_dirs: dict[str, Path]) -> None:
    """The dashboard's per-second RPS, error rate and p99 equal windows.parquet's."""
    run = run_dirs["old"]
    ours = requests.timeline(run).set_index("second")
    theirs = pq.read_table(run / "windows.parquet").to_pandas().set_index("second")
    theirs = theirs[theirs["requests"] > 0]
    assert list(ours.index) == list(theirs.index)
    np.testing.assert_allclose(ours["rps"], theirs["rps"])
    np.testing.assert_allclose(ours["error_rate"], theirs["error_rate"])
    np.testing.assert_allclose(ours["p99_ms"], theirs["p99_ms"], rtol=1e-12)


def test_histogram_counts_every_request_on_shared_bins(run_dirs: dict[str, Path]) -> None:
    """Histogram bins hold every measured request, and two runs' bins have the same edges."""
    old = requests.latency_histogram(run_dirs["old"])
    new = requests.latency_histogram(run_dirs["new"])
    frame = pq.read_table(run_dirs["old"] / "requests.parquet").to_pandas()
    assert old["count"].sum() == frame["latency_ms"].notna().sum()
    assert math.isclose(old["share"].sum(), 1.0)
    shared = set(old["low_ms"].round(9)) & set(new["low_ms"].round(9))
    assert len(shared) >= 10


def test_signals_add_up_to_the_run_summary(run_dirs: dict[str, Path]) -> None:
    """Retries and ejections per second sum to the totals the analysis put in run.json."""
    run = run_dirs["new"]
    record = load_run(run)
    signals = mesh.signals_over_time(run).groupby("signal")["count"].sum()
    whole = record.summary
    assert signals["ejections"] == whole.ejections
    retries = (whole.retries_per_krequests or 0) * whole.requests / 1000
    assert math.isclose(signals["retries"], retries)


def _metrics_run(tmp_path: Path) -> Path:
    query = (
        "sum by (reporter, source_workload, destination_workload) (rate(istio_requests_total[5s]))"
    )
    rows = []
    for t in range(10):
        for labels, value in (
            ({"reporter": "source", "source_workload": "frontend", "destination_workload": "catalog", "response_code": "200"}, 9.0),
            ({"reporter": "source", "source_workload": "frontend", "destination_workload": "catalog", "response_code": "503"}, 1.0),
            ({"reporter": "destination", "source_workload": "frontend", "destination_workload": "catalog", "response_code": "200"}, 99.0),
        ):  # fmt: skip
            rows.append(
                {"t_s": float(t), "metric": query, "labels": json.dumps(labels), "value": value}
            )
    pd.DataFrame(rows).to_parquet(tmp_path / "metrics.parquet")
    return tmp_path


def test_edges_from_istio_metrics_use_the_source_reporter(tmp_path: Path) -> None:
    """Edge rate and error rate come from the source sidecar's istio_requests_total rates."""
    edges = mesh.edges(_metrics_run(tmp_path), None)
    assert len(edges) == 1
    edge = edges.iloc[0]
    assert (edge["source"], edge["destination"], edge["from"]) == ("frontend", "catalog", "metrics")
    assert math.isclose(edge["rps"], 10.0)
    assert math.isclose(edge["error_rate"], 0.1)


def test_sidecar_overhead_is_a_share_of_the_services_own() -> None:
    """Per instance (sidecars named `<instance>` or `<instance>-sidecar`) and in total, the
    sidecar's CPU and RSS are divided by its service's."""
    per_process = pd.DataFrame(
        {
            "role": ["service", "sidecar", "service", "sidecar", "prometheus"],
            "name": ["a-0", "a-0", "b-0", "b-0-sidecar", "prometheus"],
            "cpu_cores": [0.2, 0.1, 0.2, 0.3, 1.0],
            "rss_mb": [40.0, 20.0, 40.0, 60.0, 300.0],
        }
    )
    table = mesh.by_instance(per_process).set_index("instance")
    assert table.loc["a-0", "cpu_share"] == pytest.approx(0.5)
    assert table.loc["b-0", "rss_share"] == pytest.approx(1.5)
    assert mesh.sidecar_overhead(per_process) == pytest.approx({"cpu_share": 1.0, "rss_share": 1.0})


def test_graph_layout_puts_each_service_at_its_call_depth() -> None:
    """Nodes sit in columns by call depth from the load; siblings share a column."""
    edges = pd.DataFrame(
        {
            "source": ["load", "gateway", "frontend", "frontend", "cart"],
            "destination": ["gateway", "frontend", "catalog", "cart", "inventory"],
        }
    )
    positions = graph.layout(edges)
    assert {n: x for n, (x, _) in positions.items()} == {
        "load": 0, "gateway": 1, "frontend": 2, "cart": 3, "catalog": 3, "inventory": 4,
    }  # fmt: skip
    assert positions["cart"][1] != positions["catalog"][1]
    assert graph.edge_colour(0.0) == graph.HEALTHY
    assert graph.edge_colour(0.05) == graph.FAILING


def test_changed_runs_marks_the_first_run_after_a_step() -> None:
    """A step in a metric's history is marked at the first run of the new level, and only there."""
    values = [10.0, 10.5, 9.8, 10.2, 10.1, 9.9, 20.0, 20.4, 19.7, 20.1, 20.2, 19.9]
    marks = trends.changed_runs(values)
    assert [i for i, marked in enumerate(marks) if marked] == [6]
    assert trends.changed_runs([1.0, None, 2.0]) == [False, False, False]


def test_delta_direction_reads_each_metric_its_own_way() -> None:
    """Latency up is worse, RPS up is better, a change within 5 % is the same, missing is no data."""
    assert deltas.direction("p99_ms", 100.0, 150.0) == "worse"
    assert deltas.direction("rps", 100.0, 150.0) == "better"
    assert deltas.direction("trace_completeness", 0.99, 0.90) == "worse"
    assert deltas.direction("p99_ms", 100.0, 103.0) == "same"
    assert deltas.direction("p99_ms", None, 103.0) == "no data"


def test_streamlit_command_serves_loopback_headless_for_the_reports(tmp_path: Path) -> None:
    """The dashboard command binds 127.0.0.1 on the port, headless, and passes --reports to the app."""
    command = streamlit_command(Path("dashboards/app.py"), tmp_path, 8765, "python")
    assert command[:4] == ["python", "-m", "streamlit", "run"]
    pairs = dict(zip(command[5:-3:2], command[6:-3:2], strict=True))
    assert pairs["--server.address"] == "127.0.0.1"
    assert pairs["--server.port"] == "8765"
    assert pairs["--server.headless"] == "true"
    assert pairs["--browser.gatherUsageStats"] == "false"
    assert command[-3:] == ["--", "--reports", str(tmp_path)]
    assert reports_dir(["--reports", str(tmp_path)]) == tmp_path
    assert reports_dir([f"--reports={tmp_path}"]) == tmp_path


def test_a_missing_table_is_one_clear_error(tmp_path: Path) -> None:
    """Asking for a view of a table the run does not have raises InvalidInput naming the file."""
    with pytest.raises(InvalidInput, match=r"requests\.parquet: no such table"):
        requests.timeline(tmp_path)
    (tmp_path / "requests.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidInput, match="cannot read the table"):
        requests.phase_percentiles(tmp_path, [PhaseRecord(name="whole", start_s=0, end_s=1)])
