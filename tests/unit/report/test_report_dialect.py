"""report.md names the metrics dialect and every signal it has no data for, with why."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.engine.observers import dialect_record
from harness.observe.dialects import CONSUL, LINKERD
from harness.report.markdown import markdown_report
from harness.report.mesh import edges, signals_over_time
from harness.store import load_run
from harness.store.model import PhaseRecord
from tests.fixtures.make_run import make_run


def test_report_lists_the_dialects_no_data_reasons(tmp_path: Path) -> None:
    """A Linkerd run: the section names the dialect and each NoData signal with its reason;
    a run without a dialect record (older runs) has no such section."""
    record = load_run(make_run(tmp_path))
    assert "## Metrics dialect" not in markdown_report(record)
    linkerd = record.model_copy(update={"dialect": dialect_record(LINKERD.bind())})
    text = markdown_report(linkerd)
    assert "Metrics were read in the `linkerd` dialect." in text
    assert "- `ejections`: Linkerd's failure accrual takes endpoints out" in text
    assert "- `overflows`: Linkerd has no connection-pool" in text
    assert "- `edge_requests`" not in text


def test_edges_of_a_linkerd_run_come_from_its_dialect_counters(tmp_path: Path) -> None:
    """No Istio-named edge rates: the edge table is the dialect's edge counters' increase
    over the run (per second) with the share of failures, marked from metrics."""
    run_dir = make_run(tmp_path)
    bound = LINKERD.bind()
    sent, failed = bound.query("edge_requests") or "", bound.query("edge_errors") or ""
    edge = json.dumps({"mp_destination": "catalog", "mp_source": "frontend"}, sort_keys=True)
    rows = [(t, sent, 20.0 * t) for t in range(11)] + [(t, failed, 2.0 * t) for t in range(11)]
    metrics = pd.DataFrame(
        [{"t_s": float(t), "metric": m, "labels": edge, "value": v} for t, m, v in rows]
    )
    metrics.to_parquet(run_dir / "metrics.parquet")
    record = load_run(run_dir).model_copy(update={"dialect": dialect_record(bound)})
    (run_dir / "run.json").write_text(record.model_dump_json(indent=2), encoding="utf-8")
    table = edges(run_dir, PhaseRecord(name="whole", start_s=2.0, end_s=10.0))
    (row,) = table.to_dict("records")
    assert (row["source"], row["destination"], row["from"]) == ("frontend", "catalog", "metrics")
    assert row["rps"] == pytest.approx(20.0) and row["error_rate"] == pytest.approx(0.1)


def test_signals_over_time_of_an_envoy_run_read_its_dialects_counters(tmp_path: Path) -> None:
    """Retries and overflows per second from Envoy's counters (first seen after t0: from
    0); a run whose dialect has no data for a signal shows none of it."""
    run_dir = make_run(tmp_path)
    bound = CONSUL.bind()
    retries, overflows = bound.query("retries") or "", bound.query("overflows") or ""
    labels = json.dumps({"mp_destination": "catalog", "mp_source": "frontend"})
    rows = [(3.0, retries, 2.0), (4.0, retries, 5.0), (5.0, overflows, 1.0)]
    metrics = pd.DataFrame(
        [{"t_s": t, "metric": m, "labels": labels, "value": v} for t, m, v in rows]
    )
    metrics.to_parquet(run_dir / "metrics.parquet")
    record = load_run(run_dir).model_copy(update={"dialect": dialect_record(bound)})
    (run_dir / "run.json").write_text(record.model_dump_json(indent=2), encoding="utf-8")
    found = signals_over_time(run_dir)
    per = {(r["signal"], r["t_s"]): r["count"] for r in found.to_dict("records")}
    assert per == {("retries", 3.0): 2.0, ("retries", 4.0): 3.0, ("overflows", 5.0): 1.0}
    linkerd = record.model_copy(update={"dialect": dialect_record(LINKERD.bind())})
    (run_dir / "run.json").write_text(linkerd.model_dump_json(indent=2), encoding="utf-8")
    assert set(signals_over_time(run_dir)["signal"]) <= {"retries"}
