"""A run of one million request records opens on the Run page in seconds, with the right p99."""

from __future__ import annotations

import base64
import json
import math
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from harness.analysis import RunFrames, compute_windows, phase_intervals, summarize, with_phase
from harness.bench.run_page import open_run_page
from harness.report.run_files import run_files
from harness.report.source import VIEWS
from harness.report.text import format_value
from harness.report.views import keep_request_views
from harness.store import ExperimentRef, FaultEvent, RunRecord, RunWriter, Summary, load_run

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

REQUESTS = 1_000_000
RPS = 10_000
WARMUP_S = 5.0
OPEN_BOUND_S = 60.0


def big_requests(rng: np.random.Generator) -> pd.DataFrame:
    """Open-loop records at 10 000 RPS for 100 s; slower and failing during a 10 s fault."""
    intended = np.arange(REQUESTS) / RPS
    during = (intended >= 50) & (intended < 60)
    latency = rng.lognormal(np.log(6.0), 0.4, REQUESTS) + np.where(during, 40.0, 0.0)
    lag = rng.exponential(0.3, REQUESTS) / 1000
    status = np.where(rng.random(REQUESTS) < np.where(during, 0.02, 0.001), 503, 200)
    return pd.DataFrame(
        {
            "intended_s": intended,
            "sent_s": intended + lag,
            "latency_ms": latency,
            "corrected_ms": latency + lag * 1000,
            "status": status,
            "bytes": 512,
            "route": "root",
            "method": "GET",
            "trace_id": [f"{v:032x}" for v in rng.integers(1, 2**62, REQUESTS)],
            "error": None,
        }
    )


def points(array: list[object] | dict[str, str]) -> int:
    """How many values a plotly JSON array holds (plain list, or plotly's typed base64 form)."""
    if isinstance(array, list):
        return len(array)
    return len(np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]))


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The run directory, written by meshproof's analysis and writer, and its requests."""
    reports = tmp_path_factory.mktemp("big")
    requests = big_requests(np.random.default_rng(2026))
    faults = [
        FaultEvent(name="catalog-slow", kind="l7_delay", target="catalog", start_s=50, end_s=60)
    ]
    phases = phase_intervals(WARMUP_S, REQUESTS / RPS, faults)
    requests = with_phase(requests, phases)
    windows = compute_windows(requests, phases)
    whole = summarize(RunFrames(requests, windows), phases, faults, [])["whole"]
    started = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    writer = RunWriter(reports, "million", started)
    record = RunRecord(
        id="",
        experiment=ExperimentRef(name="million", title="One million requests"),
        started_at="2026-11-27T01:00:00Z",
        status="passed",
        duration_s=REQUESTS / RPS,
        phases=phases,
        faults=faults,
        summary=Summary.from_phase(int((requests["intended_s"] >= WARMUP_S).sum()), whole),
        phase_summaries=[whole],
    )
    writer.write_table("requests", requests)
    writer.write_table("windows", windows)
    writer.finish(record, run_files(windows))
    return writer.path, requests


@pytest.mark.slow
def test_a_million_requests_open_in_seconds_with_the_exact_p99(
    big_run: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Run page of a 1M-request run renders within 60 s, shows numpy's p99, draws seconds not requests."""
    run_dir, requests = big_run
    monkeypatch.setenv("MESHPROOF_REPORTS", str(run_dir.parent))
    app, elapsed = open_run_page(run_dir, OPEN_BOUND_S)
    assert not app.exception, [e.message for e in app.exception]
    assert elapsed < OPEN_BOUND_S, f"the Run page took {elapsed:.1f} s"
    measured = requests.loc[requests["intended_s"] >= WARMUP_S, "latency_ms"].to_numpy()
    p99 = float(np.quantile(measured, 0.99))
    phases = next(t.value for t in app.dataframe if "p99_ms" in t.value.columns)
    shown = phases.set_index("phase").loc["whole"]
    assert shown["requests"] == len(measured)
    assert math.isclose(shown["p99_ms"], p99, rel_tol=1e-9)
    assert {m.label: m.value for m in app.metric}["p99"] == format_value("p99_ms", p99)
    timeline = json.loads(app.get("plotly_chart")[0].proto.spec)
    rps = next(trace for trace in timeline["data"] if trace.get("name") == "RPS")
    assert points(rps["x"]) == REQUESTS // RPS
    print(f"Run page of {REQUESTS:,} requests opened in {elapsed:.1f} s")


def page_contents(app: AppTest) -> tuple[list[pd.DataFrame], dict[str, str], list[str]]:
    """What the Run page shows: its tables, its tiles and its charts' figures."""
    tables = [t.value for t in app.dataframe]
    tiles = {m.label: m.value for m in app.metric}
    charts = [chart.proto.spec for chart in app.get("plotly_chart")]
    return tables, tiles, charts


@pytest.mark.slow
def test_kept_views_show_the_same_page(
    big_run: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the views the engine keeps when it writes a run, the Run page of a 1M-request
    run shows the same tables, tiles and charts as when it queries requests.parquet."""
    run_dir, _ = big_run
    monkeypatch.setenv("MESHPROOF_REPORTS", str(run_dir.parent))
    live, _ = open_run_page(run_dir, OPEN_BOUND_S)
    keep_request_views(run_dir, load_run(run_dir))
    try:
        kept, elapsed = open_run_page(run_dir, OPEN_BOUND_S)
        assert not kept.exception, [e.message for e in kept.exception]
        ours, theirs = page_contents(kept), page_contents(live)
        assert len(ours[0]) == len(theirs[0]) > 0
        for shown, queried in zip(ours[0], theirs[0], strict=True):
            pd.testing.assert_frame_equal(shown, queried, check_exact=True)
        assert ours[1:] == theirs[1:]
        print(f"Run page of {REQUESTS:,} requests with kept views opened in {elapsed:.1f} s")
    finally:
        shutil.rmtree(run_dir / VIEWS)
