"""`meshproof gate` against the host's disturbance: inconclusive SLOs and regressions."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.cli.main import main
from harness.gate import GateSettings, gate_records
from harness.gate.output import headline, junit_xml, markdown
from harness.store import ExperimentRef, RunRecord, Summary, Verdict
from harness.store.model import HostDisturbance
from harness.store.reader import load_run
from tests.fixtures.make_run import make_run

# two processes spinning at 90 % on an otherwise quiet 2-core host, as the probe saw them
HOG = HostDisturbance(sched_lag_p50_ms=0.09, sched_lag_p99_ms=1.83, sched_lag_max_ms=5.05,
                      foreign_cpu_cores=1.8)  # fmt: skip
QUIET = HostDisturbance(sched_lag_p50_ms=0.09, sched_lag_p99_ms=0.3, sched_lag_max_ms=2.0)
SHOP_WAKEUPS = 34


def record(day: int, p99: float, **extra: object) -> RunRecord:
    return RunRecord(
        id=f"202601{day:02d}T000000Z-baseline",
        experiment=ExperimentRef(name="baseline"),
        status=extra.pop("status", "passed"),
        started_at=f"2026-01-{day:02d}T00:00:00Z",
        summary=Summary(requests=1000, p50_ms=10.0 + day % 2 * 0.1, p99_ms=p99, error_rate=0.0),
        **extra,  # type: ignore[arg-type]
    )


HISTORY = [record(day, 40.0 + day % 3 * 0.5) for day in range(1, 6)]


def test_a_regression_the_noise_explains_is_inconclusive() -> None:
    """p99 +30 % (40 -> 52 ms) on a run whose host may have added ~73 ms: exit 3, not 1."""
    noisy = record(6, 52.0, host=HOG, wakeups=SHOP_WAKEUPS)
    result = gate_records(noisy, HISTORY, GateSettings())
    p99 = next(m for m in result.metrics if m.metric == "p99_ms")
    assert p99.status == "inconclusive"
    assert "scheduling lag p50 0.09 / p99 1.8" in p99.reason
    assert (result.outcome, result.exit_code, result.passed) == ("inconclusive", 3, False)
    assert result.failures == [] and len(result.inconclusive) == 1
    assert headline(result).startswith("INCONCLUSIVE: baseline run")


def test_the_same_regression_on_a_quiet_host_fails() -> None:
    """The same +30 % with a quiet probe: a regression, exit 1."""
    quiet = record(6, 52.0, host=QUIET, wakeups=SHOP_WAKEUPS)
    result = gate_records(quiet, HISTORY, GateSettings())
    assert (result.outcome, result.exit_code) == ("fail", 1)
    p99 = next(m for m in result.metrics if m.metric == "p99_ms")
    assert p99.disturbance.endswith("may have added up to 0 ms")
    errors = next(m for m in result.metrics if m.metric == "error_rate")
    assert errors.disturbance == ""
    assert result.failures[0].startswith("p99_ms regressed +")


def test_noise_the_history_met_as_well_is_not_charged_again() -> None:
    """The same +30 % when every history run met the same hog: the history's spread holds
    that noise already, nothing is charged beyond it, so it is a regression (exit 1)."""
    noisy_history = [r.model_copy(update={"host": HOG, "wakeups": SHOP_WAKEUPS}) for r in HISTORY]
    noisy = record(6, 52.0, host=HOG, wakeups=SHOP_WAKEUPS)
    result = gate_records(noisy, noisy_history, GateSettings())
    assert (result.outcome, result.exit_code) == ("fail", 1)
    p99 = next(m for m in result.metrics if m.metric == "p99_ms")
    assert p99.disturbance.endswith("0 ms more than the history's runs typically met")


def test_a_regression_larger_than_the_noise_still_fails() -> None:
    """p99 40 -> 160 ms under the hog: more than the noise could add, a regression."""
    result = gate_records(record(6, 160.0, host=HOG, wakeups=SHOP_WAKEUPS), HISTORY, GateSettings())
    assert (result.outcome, result.exit_code) == ("fail", 1)


def test_an_inconclusive_slo_makes_the_gate_inconclusive_and_a_skipped_case() -> None:
    """The run's own inconclusive SLO: gate inconclusive, junit skipped with the reason."""
    verdict = Verdict(slo="p99_ms < 30", metric="p99_ms", op="<", threshold=30, phase="whole",
                      value=40.5, passed=False, outcome="inconclusive",
                      disturbance="scheduling lag p99 9.7 ms")  # fmt: skip
    run = record(6, 40.5, verdicts=[verdict], status="inconclusive")
    result = gate_records(run, HISTORY, GateSettings())
    assert (result.outcome, result.exit_code) == ("inconclusive", 3)
    root = ET.fromstring(junit_xml(result))
    skipped = root.find(".//testcase[@name='slo: p99_ms < 30']/skipped")
    assert skipped is not None
    assert "too noisy to judge" in (skipped.get("message") or "")
    assert root.find(".//failure") is None
    assert "INCONCLUSIVE p99_ms < 30" in markdown(result)


def test_the_gate_command_exits_3_on_an_inconclusive_run(tmp_path: Path) -> None:
    """`meshproof gate` of a run whose only problem is an inconclusive SLO: exit 3."""
    run_dir = make_run(tmp_path / "reports")
    stored = load_run(run_dir)
    noisy = [
        v.model_copy(update={"outcome": "inconclusive", "passed": False,
                             "disturbance": "scheduling lag p99 9.7 ms"})
        if not v.passed else v
        for v in stored.verdicts
    ]  # fmt: skip
    stored = stored.model_copy(update={"verdicts": noisy, "status": "inconclusive"})
    (run_dir / "run.json").write_text(stored.model_dump_json(indent=2), encoding="utf-8")
    out = tmp_path / "gate"
    assert main(["gate", str(run_dir), "--out", str(out)]) == 3
    assert "INCONCLUSIVE" in (out / "gate.md").read_text(encoding="utf-8")


def cpu_record(day: int, cpu: float, steal: float) -> RunRecord:
    host = HostDisturbance(sched_lag_p50_ms=0.09, sched_lag_p99_ms=0.3, steal_share=steal,
                           foreign_cpu_cores=0.014, busy_cores=0.5)  # fmt: skip
    summary = Summary(requests=1000, p50_ms=12.7, p99_ms=40.0, sidecar_cpu_per_krps=cpu)
    run = record(day, 40.0, host=host, wakeups=SHOP_WAKEUPS)
    return run.model_copy(update={"summary": summary})


def test_a_cpu_regression_the_hypervisors_steal_explains_is_inconclusive() -> None:
    """The compare test's third steady run (session 6): CPU per request 0.80 -> 1.08 with
    4.5 % steal against a history with none: inconclusive, exit 3. With the history's
    steal, or 2.5 times the CPU, it is a regression."""
    history = [cpu_record(1, 0.808, 0.00025), cpu_record(2, 0.798, 0.00075)]
    settings = GateSettings(min_history=2)
    result = gate_records(cpu_record(3, 1.08, 0.045), history, settings)
    cpu = next(m for m in result.metrics if m.metric == "sidecar_cpu_per_krps")
    assert cpu.status == "inconclusive", cpu
    assert "steal 4.5%" in cpu.reason and "cores per 1000 RPS" in cpu.reason
    assert (result.outcome, result.exit_code) == ("inconclusive", 3)
    quiet = gate_records(cpu_record(3, 1.08, 0.0005), history, settings)
    assert quiet.exit_code == 1 and quiet.failures[0].startswith("sidecar_cpu_per_krps regressed")
    stolen_history = [cpu_record(1, 0.808, 0.045), cpu_record(2, 0.798, 0.045)]
    alike = gate_records(cpu_record(3, 1.08, 0.045), stolen_history, settings)
    assert alike.exit_code == 1
    assert gate_records(cpu_record(3, 2.0, 0.045), history, settings).exit_code == 1
