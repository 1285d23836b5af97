"""compare_runs and `meshproof compare` on fixture run directories (no sockets)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli.main import main
from harness.compare import compare_run_sets, compare_runs
from harness.compare.samples import per_second_sidecars, run_samples
from harness.store.reader import StoredRun
from mesh_runtime.errors import InvalidInput
from tests.fixtures.make_run import make_run


def run(reports: Path, day: int, seed: int, name: str = "catalog-503") -> Path:
    return make_run(reports, seed=seed, name=name, started_at=datetime(2026, 1, day, tzinfo=UTC))


def slowed(source: Path, reports: Path, factor: float) -> Path:
    """A copy of a run whose every request took `factor` times as long."""
    target = reports / source.name.replace("T000000Z", "T120000Z")
    shutil.copytree(source, target)
    table = pd.read_parquet(target / "requests.parquet")
    table["latency_ms"] = table["latency_ms"] * factor
    table.to_parquet(target / "requests.parquet")
    return target


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def baseline(reports: Path) -> Path:
    return run(reports, 1, seed=1)


@pytest.fixture(scope="module")
def candidate(reports: Path) -> Path:
    return run(reports, 2, seed=2)


def test_two_runs_of_the_same_mesh_compare_as_pass(baseline: Path, candidate: Path) -> None:
    """Two seeds of the same fixture run: every metric judged, verdict Pass."""
    result = compare_runs(baseline, candidate)
    assert result.verdict == "Pass", [m for m in result.metrics if m.failed]
    assert result.score >= 90
    names = {m.metric for m in result.metrics}
    assert {"latency_ms", "latency_ms{route=catalog}", "error_rate", "p99_ms"} <= names
    assert "recovery_s{fault=catalog-503}" in names


def test_a_slower_candidate_fails_with_latency_named(baseline: Path, reports: Path) -> None:
    """Requests 60 % slower (beyond the 30 % default): latency High, critical, comparison Fail."""
    result = compare_runs(baseline, slowed(baseline, reports, 1.6))
    assert result.verdict == "Fail"
    assert "latency_ms" in result.critical_failures
    latency = next(m for m in result.metrics if m.metric == "latency_ms")
    assert latency.classification == "High"
    assert latency.low is not None and latency.low > 0


def test_rounds_are_pooled(baseline: Path, candidate: Path) -> None:
    """Two runs a side pool their requests into one comparison."""
    one = compare_runs(baseline, candidate)
    pooled = compare_run_sets([baseline, candidate], [candidate, baseline])
    first = next(m for m in pooled.metrics if m.metric == "latency_ms")
    single = next(m for m in one.metrics if m.metric == "latency_ms")
    assert first.baseline_n == single.baseline_n + single.candidate_n
    assert pooled.baseline_runs == [baseline.name, candidate.name]


def test_runs_of_different_experiments_are_unusable(baseline: Path, reports: Path) -> None:
    """Comparing two experiments is one clear InvalidInput line."""
    other = run(reports, 3, seed=3, name="other-experiment")
    with pytest.raises(InvalidInput, match="different experiments"):
        compare_runs(baseline, other)


def test_a_missing_requests_table_is_unusable(baseline: Path, tmp_path: Path) -> None:
    """A run directory without requests.parquet cannot be compared."""
    broken = tmp_path / baseline.name
    shutil.copytree(baseline, broken)
    (broken / "requests.parquet").unlink()
    with pytest.raises(InvalidInput, match=r"requests\.parquet"):
        compare_runs(baseline, broken)


def test_cli_writes_reports_and_exits_by_verdict(
    baseline: Path,
    candidate: Path,
    reports: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Pass exits 0 and writes compare.md, junit.xml (a testcase per metric), compare.json."""
    out = tmp_path / "out"
    code = main(["compare", str(baseline), str(candidate), "--out", str(out), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert printed["verdict"] == "Pass"
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert len(suite.findall("testcase")) == len(printed["metrics"])
    assert "# Comparison of catalog-503: Pass" in (out / "compare.md").read_text()


def test_cli_fail_exits_1_and_unusable_input_exits_2(
    baseline: Path, reports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A regression exits 1 naming the metric in junit; a missing run exits 2 with one line."""
    slow = slowed(baseline, tmp_path, 1.6)
    out = tmp_path / "out"
    assert main(["compare", str(baseline), str(slow), "--out", str(out)]) == 1
    junit = (out / "junit.xml").read_text()
    assert 'type="CriticalRegression"' in junit and "latency_ms High" in junit
    capsys.readouterr()
    assert main(["compare", str(baseline), str(tmp_path / "nope"), "--reports", str(reports)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no such run directory" in error


def test_default_out_is_a_folder_in_the_reports_comparisons_dir(
    baseline: Path, candidate: Path, reports: Path
) -> None:
    """Without --out the report goes to reports/comparisons/<baseline>-vs-<candidate> (was
    reports/compare-..., taken for the newest run: issue 11)."""
    assert main(["compare", baseline.name, candidate.name, "--reports", str(reports)]) == 0
    folder = reports / "comparisons" / f"{baseline.name}-vs-{candidate.name}"
    assert (folder / "compare.md").is_file()


def test_sidecar_cpu_is_per_1000_proxied_rps_as_the_run_summary(baseline: Path) -> None:
    """The comparison's per-second sidecar CPU is Istio's measure, agreeing with run.json's."""
    stored = StoredRun(baseline)
    per_krps, rss = per_second_sidecars(stored)
    assert len(per_krps) > 10 and len(rss) > 10
    summary = stored.record.summary.sidecar_cpu_per_krps
    assert summary is not None
    assert float(np.median(per_krps)) == pytest.approx(summary, rel=0.25)


def test_trace_completeness_is_compared_over_the_measured_requests(baseline: Path) -> None:
    """The trace-completeness test counts the measured 2xx requests (never warm-up's,
    which run.json's `traces` counts hold too), at the completeness the summary reports."""
    stored = StoredRun(baseline)
    requests = pd.read_parquet(baseline / "requests.parquet")
    measured = requests[requests["phase"] != "warmup"]
    answered = int(measured["status"].between(200, 299).sum())
    assert stored.record.traces is not None and stored.record.traces.requests > answered

    samples = run_samples(stored)

    assert samples.trace_judged == answered
    share = stored.record.summary.trace_completeness
    assert samples.trace_complete == round((share or 0) * answered)
