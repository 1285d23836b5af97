"""The trace completeness the Run page and the HTML report show: which requests are
judged, and the missing spans counted by label ('which span was missing')."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.analysis.traces import trace_completeness
from harness.report.traces import missing_counts, trace_view
from harness.store.reader import load_run
from tests.fixtures.make_run import make_run, span_record

TRACE = "cd" * 16


def _gateway_only(times: tuple[int, int]) -> pd.DataFrame:
    """One request's trace holding the gateway's spans and nothing downstream."""
    rows = [
        span_record(TRACE, "a1", "ff", "inbound", "SERVER", "gateway", times, "UNSET", {}),
        span_record(TRACE, "b1", "a1", "gateway handle", "SERVER", "gateway", times, "UNSET", {}),
    ]
    return pd.DataFrame(rows)


def test_a_service_named_with_a_leading_x_keeps_its_label() -> None:
    """A service named 'xcache' is not read as a repeat count: the gateway's missing
    outbound span to it is counted under its whole label, once."""
    spans = _gateway_only((1_000_000_000, 2_000_000_000))
    requests = pd.DataFrame({"trace_id": [TRACE], "status": [200], "intended_s": [1.0]})
    report = trace_completeness(spans, requests, {"gateway": ["xcache"]}, "gateway", "mesh")

    counts = missing_counts(report.examples)

    assert counts == {
        "gateway sidecar outbound -> xcache": 1,
        "xcache handle": 1,
        "xcache sidecar inbound": 1,
    }


def test_a_repeated_missing_span_counts_its_repeats() -> None:
    """'cart handle x2' (the analysis's way to say two were missing) counts 2."""
    examples: list[dict[str, object]] = [
        {"trace_id": TRACE, "missing": ["cart handle x2", "xcache handle"], "spans": 3},
        {"trace_id": "ef" * 16, "missing": ["cart handle"], "spans": 5},
    ]
    assert missing_counts(examples) == {"cart handle": 3, "xcache handle": 1}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("reports"))


def test_the_judged_requests_are_the_measured_ones(run_dir: Path) -> None:
    """Like the headline's completeness, the view judges the 2xx requests after warm-up:
    its counts give the same share as run.json's summary (a small run: no sampling)."""
    record = load_run(run_dir)
    requests = pd.read_parquet(run_dir / "requests.parquet")
    measured = requests[(requests["phase"] != "warmup") & requests["status"].between(200, 299)]

    view = trace_view(record, run_dir)

    assert view is not None and view.judged == len(measured)
    assert view.complete / view.judged == pytest.approx(record.summary.trace_completeness)
