"""The mesh graph's edge rates from Istio's metrics agree with the requests that crossed
each edge, however soon after the first request the phase starts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.engine.observers import dialect_record
from harness.observe.dialects import LINKERD
from harness.report.mesh import edges
from harness.store import load_run
from harness.store.model import PhaseRecord
from tests.fixtures.make_run import make_run

RATE = (
    "sum by (reporter, source_workload, destination_workload, destination_service, "
    "destination_version, response_code, response_flags) (rate(istio_requests_total[5s]))"
)
SCRAPES = [k + 0.5 for k in range(25)]


def _labels(reporter: str, source: str, destination: str, code: str) -> str:
    return json.dumps(
        {
            "reporter": reporter,
            "source_workload": source,
            "destination_workload": destination,
            "response_code": code,
        }
    )


def _series(labels: str, rps: float, since: float, lag: float = 0.0) -> list[dict[str, object]]:
    """A counter at `rps` from `since` (first scraped after its first request; its target
    scraped `lag` s before each query step), and the rate(...[5s]) Prometheus gives for
    it: low while its window reaches back before the counter's first request."""
    rows: list[dict[str, object]] = []
    for t in (t for t in SCRAPES if t - lag > since):
        count = rps * (t - lag - since)
        rows.append({"t_s": t, "metric": "istio_requests_total", "labels": labels, "value": count})
        rate = rps * min(t - since, 5.0) / 5.0
        rows.append({"t_s": t, "metric": RATE, "labels": labels, "value": rate})
    return rows


def _run(tmp_path: Path) -> Path:
    rows = [
        *_series(_labels("source", "gateway", "a", "200"), 100.0, 0.0),
        *_series(_labels("destination", "gateway", "a", "200"), 300.0, 0.0),
        *_series(_labels("destination", "unknown", "gateway", "200"), 100.0, 0.0),
        *_series(_labels("source", "a", "b", "200"), 90.0, 0.0),
        *_series(_labels("source", "a", "b", "503"), 10.0, 10.0),
    ]
    pd.DataFrame(rows).to_parquet(tmp_path / "metrics.parquet")
    return tmp_path


def test_edge_rates_are_the_counters_increase_over_the_scrapes_in_the_phase(
    tmp_path: Path,
) -> None:
    """A phase starting 2.2 s after the first request: the graph's rate is each edge's
    counter increase between the scrapes bounding the phase, over the seconds between them
    (not the mean of rate(...[5s]), low for the first 5 s; not / the phase's length), with
    a 503 series first seen mid-phase counted from 0; destination reporters left out."""
    table = edges(_run(tmp_path), PhaseRecord(name="whole", start_s=2.2, end_s=19.8))
    found = {(r["source"], r["destination"]): r for r in table.to_dict("records")}
    assert set(found) == {("gateway", "a"), ("a", "b")}
    assert found[("gateway", "a")]["rps"] == pytest.approx(100.0)
    assert found[("gateway", "a")]["error_rate"] == 0.0
    assert found[("gateway", "a")]["from"] == "metrics"
    # Scrapes 1.5 .. 19.5: 90 rps for 18 s and 10 rps of 503s since t = 10.
    assert found[("a", "b")]["rps"] == pytest.approx((90 * 18 + 10 * 9.5) / 18)
    assert found[("a", "b")]["error_rate"] == pytest.approx(95 / (90 * 18 + 95))


def test_a_phase_from_t0_is_measured_from_its_first_scrape(tmp_path: Path) -> None:
    """No scrape before the phase: the rate runs from its first scrape, not from 0 at t0,
    so each target's scrape lag behind the query's step (a counter's value at step 0.5 is
    its count at 0.05 or at 0.45) does not stretch the seconds the count is divided by."""
    rows = [
        *_series(_labels("source", "gateway", "a", "200"), 100.0, 0.0, lag=0.45),
        *_series(_labels("source", "a", "b", "200"), 100.0, 0.0, lag=0.05),
    ]
    pd.DataFrame(rows).to_parquet(tmp_path / "metrics.parquet")
    table = edges(tmp_path, PhaseRecord(name="whole", start_s=0.0, end_s=19.8))
    assert table["rps"].to_list() == pytest.approx([100.0, 100.0])
    assert edges(tmp_path, None)["rps"].to_list() == pytest.approx([100.0, 100.0])


def test_a_dialects_edge_rate_is_measured_between_scrapes(tmp_path: Path) -> None:
    """A Linkerd run scraped at x.5 s, phase [2.2, 19.8): the edge counters' increase from
    the scrape at 1.5 to the one at 19.5 is over 18 s, not the phase's 17.6 s."""
    run_dir = make_run(tmp_path)
    bound = LINKERD.bind()
    sent, failed = bound.query("edge_requests") or "", bound.query("edge_errors") or ""
    edge = json.dumps({"mp_destination": "catalog", "mp_source": "frontend"}, sort_keys=True)
    rows = [(t, sent, 20.0 * t) for t in SCRAPES] + [(t, failed, 2.0 * t) for t in SCRAPES]
    metrics = pd.DataFrame(
        [{"t_s": t, "metric": m, "labels": edge, "value": v} for t, m, v in rows]
    )
    metrics.to_parquet(run_dir / "metrics.parquet")
    record = load_run(run_dir).model_copy(update={"dialect": dialect_record(bound)})
    (run_dir / "run.json").write_text(record.model_dump_json(indent=2), encoding="utf-8")
    (row,) = edges(run_dir, PhaseRecord(name="whole", start_s=2.2, end_s=19.8)).to_dict("records")
    assert row["rps"] == pytest.approx(20.0) and row["error_rate"] == pytest.approx(0.1)
