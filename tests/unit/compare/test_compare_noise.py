"""compare against each side's host disturbance (harness.compare.noise), on fixture runs."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from harness.cli.main import main
from harness.compare import compare_runs
from harness.store.model import HostDisturbance
from harness.store.reader import load_run
from tests.fixtures.make_run import make_run

# two processes spinning at 90 % on an otherwise quiet 2-core host, as the probe saw them
HOG = HostDisturbance(sched_lag_p50_ms=0.09, sched_lag_p99_ms=1.83, sched_lag_max_ms=5.05,
                      foreign_cpu_cores=1.8)  # fmt: skip
QUIET = HostDisturbance(sched_lag_p50_ms=0.09, sched_lag_p99_ms=0.3, sched_lag_max_ms=2.0)
LATENCY = ("latency_ms", "p50_ms", "p99_ms")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reports = tmp_path_factory.mktemp("reports")
    return make_run(reports, seed=1, started_at=datetime(2026, 1, 1, tzinfo=UTC))


def candidate(baseline: Path, name: str, factor: float, host: HostDisturbance) -> Path:
    """A copy of the baseline whose requests took `factor` times as long, on `host`."""
    target = baseline.parent / baseline.name.replace("T000000Z", f"T{name}Z")
    shutil.copytree(baseline, target)
    table = pd.read_parquet(target / "requests.parquet")
    table["latency_ms"] = table["latency_ms"] * factor
    table.to_parquet(target / "requests.parquet")
    record = load_run(target).model_copy(update={"host": host, "wakeups": 34, "id": target.name})
    (target / "run.json").write_text(record.model_dump_json(indent=2), encoding="utf-8")
    return target


def test_a_slowdown_the_candidates_noise_explains_is_inconclusive(baseline: Path) -> None:
    """+5 ms p50 on a candidate whose host may have added ~18 ms: Inconclusive, not Fail."""
    result = compare_runs(baseline, candidate(baseline, "010000", 1.6, HOG), calibration=None)
    latency = {m.metric: m for m in result.metrics if m.metric in LATENCY}
    assert all(m.inconclusive and not m.failed for m in latency.values())
    assert "candidate host scheduling lag p50 0.09 / p99 1.8" in latency["latency_ms"].disturbance
    assert result.verdict == "Inconclusive"
    errors = next(m for m in result.metrics if m.metric == "error_rate")
    assert not errors.inconclusive and errors.disturbance == ""


def test_the_same_slowdown_on_a_quiet_host_fails(baseline: Path) -> None:
    """The same +5 ms with a quiet probe on the candidate: Fail on latency."""
    result = compare_runs(baseline, candidate(baseline, "020000", 1.6, QUIET), calibration=None)
    assert result.verdict == "Fail" and "latency_ms" in result.critical_failures


def test_a_slowdown_larger_than_the_noise_fails_under_the_hog(baseline: Path) -> None:
    """x10 latency (+75 ms p50) under the hog: more than the noise, Fail."""
    result = compare_runs(baseline, candidate(baseline, "030000", 10.0, HOG), calibration=None)
    assert result.verdict == "Fail" and "latency_ms" in result.critical_failures


def test_compare_exits_3_with_skipped_cases(baseline: Path, tmp_path: Path) -> None:
    """`meshproof compare` of the noisy pair: exit 3, latency cases skipped in junit.xml."""
    noisy = candidate(baseline, "040000", 1.6, HOG)
    out = tmp_path / "out"
    code = main(["compare", str(baseline), str(noisy), "--out", str(out)])
    assert code == 3
    root = ET.parse(out / "junit.xml").getroot()
    skipped = root.find(".//testcase[@name='latency_ms']/skipped")
    assert skipped is not None and "too noisy to judge" in (skipped.get("message") or "")
    assert root.find(".//failure") is None


def test_disturbance_both_sides_met_alike_is_not_charged(baseline: Path) -> None:
    """The same +5 ms when the baseline's host was as busy as the candidate's: the window
    test has absorbed the shared noise, only the excess is charged, so it is a Fail."""
    noisy_base = candidate(baseline, "050000", 1.0, HOG)
    result = compare_runs(noisy_base, candidate(baseline, "060000", 1.6, HOG), calibration=None)
    latency = next(m for m in result.metrics if m.metric == "latency_ms")
    assert not latency.inconclusive and latency.failed
    assert "baseline host scheduling lag" in latency.disturbance
    assert result.verdict == "Fail"


def test_a_busier_baseline_can_hide_a_slowdown(baseline: Path) -> None:
    """A quiet candidate 5 ms faster than a baseline under the hog: the hog may have added
    ~18 ms to the baseline, so the candidate may really be slower: inconclusive, not a
    Pass."""
    noisy_base = candidate(baseline, "070000", 1.0, HOG)
    faster = compare_runs(noisy_base, candidate(baseline, "080000", 0.6, QUIET), calibration=None)
    latency = next(m for m in faster.metrics if m.metric == "latency_ms")
    assert latency.inconclusive and not latency.failed


def busier_sidecars(baseline: Path, name: str, factor: float, steal: float) -> Path:
    """A copy of the baseline whose sidecars used `factor` times the CPU, on a host whose
    hypervisor stole `steal` of the CPU."""
    target = candidate(baseline, name, 1.0, QUIET.model_copy(update={"steal_share": steal}))
    table = pd.read_parquet(target / "resources.parquet")
    table["cpu_cores"] = table["cpu_cores"] * factor
    table.to_parquet(target / "resources.parquet")
    return target


def test_a_cpu_rise_the_hypervisors_steal_explains_is_inconclusive(baseline: Path) -> None:
    """Sidecar CPU per request +35 % on a candidate that met 4.5 % steal (as a steady run of
    the compare test did): inconclusive, not failed; the same rise with a quiet runner's
    steal fails."""
    stolen = compare_runs(baseline, busier_sidecars(baseline, "090000", 1.35, 0.045),
                          calibration=None)  # fmt: skip
    cpu = next(m for m in stolen.metrics if m.metric == "sidecar_cpu_per_krps")
    assert cpu.inconclusive and not cpu.failed, cpu
    assert "steal 4.5%" in cpu.disturbance and "cores per 1000 RPS" in cpu.disturbance
    quiet = compare_runs(baseline, busier_sidecars(baseline, "100000", 1.35, 0.0005),
                         calibration=None)  # fmt: skip
    cpu = next(m for m in quiet.metrics if m.metric == "sidecar_cpu_per_krps")
    assert cpu.failed and not cpu.inconclusive, cpu
