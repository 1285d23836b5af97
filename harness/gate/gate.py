"""The nightly gate of one run: its own SLO verdicts, and its history of earlier runs.

History: the runs of the same experiment in the history folder (default: the run's own
reports folder) that started before it, ran to their end (passed or failed) and were made
against the same deployment (runtime and external target, `harness.store.deployment`; the
others are counted and said), oldest first, at most `max_history`, each run id once (a
run copied under the reports folder keeps its id: the copy is left out, and said so).
Each headline metric of run.json's summary is judged by `harness.gate.regression`. A
latency percentile's regression the run's number of requests cannot tell from none (the low
end of the percentile's 95 % confidence interval is no regression) is ok, and says so. The
gate fails when an SLO failed or a metric regressed. A latency or CPU-per-request
regression the host's disturbance during the run could explain (judged again with the run's
value lowered by what the noise may have added beyond what the history's runs typically
met, `harness.judge.disturbance`: the history's spread already holds the disturbance its
runs met) is `inconclusive`, as are the run's inconclusive SLOs: with nothing failed, the
gate is inconclusive (exit 3). A run that was aborted or could not be done cannot be gated
(InvalidInput, exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Literal

from pydantic import BaseModel, ConfigDict

from harness.calibrate import Calibration, find_calibration
from harness.exits import FAILED, INCONCLUSIVE, PASSED
from harness.gate.regression import (
    GateRule,
    GateSettings,
    SeriesJudgment,
    calibrated_rule,
    judge_series,
)
from harness.judge.disturbance import describe_host, noise_text, run_noise
from harness.report.text import format_value, verdict_line
from harness.spec.phase import WHOLE
from harness.store.deployment import deployment_of, same_deployment
from harness.store.liveness import seen_here
from harness.store.model import Outcome, RunRecord, Verdict
from harness.store.reader import RunListing, list_runs, load_run, once_per_id, unreadable
from mesh_runtime.errors import InvalidInput

HEADLINE_RULES: dict[str, GateRule] = {
    "p50_ms": GateRule("increase", 0.10, 1.0),
    "p99_ms": GateRule("increase", 0.15, 2.0),
    "corrected_p99_ms": GateRule("increase", 0.15, 2.0),
    "error_rate": GateRule("increase", 0.50, 0.001),
    "trace_completeness": GateRule("decrease", 0.0, 0.001),
    "sidecar_cpu_per_krps": GateRule("increase", 0.15, 0.05),
    "sidecar_rss_mb": GateRule("increase", 0.10, 2.0),
    "retries_per_krequests": GateRule("increase", 0.25, 1.0),
}
"""Headline metric -> harmful direction and minimum magnitude (relative, absolute)."""


class MetricGate(BaseModel):
    model_config = ConfigDict(frozen=True)

    metric: str
    status: Literal["regression", "improvement", "ok", "nodata", "inconclusive"]
    current: float | None
    reference: float | None
    delta: float | None
    relative: float | None
    p_value: float | None
    method: str
    started_at: str
    change_points: list[str]
    reason: str
    disturbance: str = ""
    """Latency: what the run's host did and may have added (`harness.judge.disturbance`)."""
    tolerance: float | None = None
    """The minimum magnitude a change was held to (None: not judged)."""
    tolerance_source: str = ""
    """'calibration of 5 runs on 2026-12-03' or 'default (10 % or 1)'."""


class GateResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    run: str
    experiment: str
    history: list[str]
    verdicts: list[Verdict]
    metrics: list[MetricGate]
    passed: bool
    failures: list[str]
    """One line per reason the gate failed."""
    inconclusive: list[str] = []
    """One line per SLO or metric the host was too noisy to judge."""
    min_history: int = 3
    """Earlier runs needed to judge a regression; with fewer, only the SLOs are judged."""
    calibration: str = ""
    """The calibration whose tolerances the history judgment used, or '' (defaults)."""
    skipped: list[str] = []
    """Earlier runs of the experiment in the history folder whose run.json could not be
    read ('<id>: <problem>'): left out of the history, and said so."""
    duplicates: list[str] = []
    """Earlier run folders left out of the history as copies of a run it already holds
    (same run.json id: `harness.store.reader.once_per_id`), said so."""
    other_deployments: int = 0
    """Earlier complete runs of the experiment made against another deployment (another
    runtime or external target, `harness.store.deployment`): left out of the history, said so."""

    @property
    def history_judged(self) -> bool:
        return len(self.history) >= self.min_history

    @property
    def outcome(self) -> Outcome:
        """pass, fail, or inconclusive (nothing failed, something could not be judged)."""
        if self.failures:
            return "fail"
        return "inconclusive" if self.inconclusive else "pass"

    @property
    def exit_code(self) -> int:
        """0 pass, 1 fail, 3 inconclusive: the host was too noisy to judge."""
        return {"pass": PASSED, "fail": FAILED, "inconclusive": INCONCLUSIVE}[self.outcome]


COMPLETE = ("passed", "failed", "inconclusive")
"""Statuses of runs that ran to their end."""


def gateable(record: RunRecord, source: str) -> None:
    if record.status not in COMPLETE:
        why = record.error or "it did not run to its end"
        raise InvalidInput(source, "status", f"the run is {record.status}, cannot gate it: {why}")


def earlier_runs(record: RunRecord, history_dir: Path) -> list[RunListing]:
    """The runs of the record's experiment in `history_dir` started before it, readable or
    not (an unreadable one's experiment and start come from its folder name), oldest first."""
    return [
        item
        for item in list_runs(history_dir, record.experiment.name)
        if item.id != record.id and (item.started_at, item.id) < (record.started_at, record.id)
    ]


def history_of(
    record: RunRecord, earlier: list[RunListing], max_history: int
) -> tuple[list[RunRecord], int]:
    """The newest `max_history` complete runs of `earlier` (`earlier_runs`) made against
    the record's deployment (`harness.store.deployment`), oldest first, and how many
    complete runs against other deployments were left out."""
    complete = [item for item in earlier if item.status in COMPLETE]
    same, others = same_deployment(deployment_of(record), complete, lambda item: item.deployment)
    return [load_run(item.path) for item in same[-max_history:]], len(others)


def _metric_gate(judgment: SeriesJudgment) -> MetricGate:
    return MetricGate(
        metric=judgment.metric,
        status=judgment.status,
        current=judgment.current,
        reference=judgment.reference,
        delta=judgment.delta,
        relative=judgment.relative,
        p_value=judgment.p_value,
        method=judgment.method,
        started_at=judgment.started_at,
        change_points=list(judgment.change_points),
        reason=judgment.reason,
        tolerance=judgment.tolerance,
        tolerance_source=judgment.tolerance_source,
    )


def failure_line(gate: MetricGate) -> str:
    """'p99_ms regressed +42.0 % (12.1 -> 17.2) since run X (E-divisive ...)'."""
    change = f"{gate.relative:+.1%}" if gate.relative is not None else f"{gate.delta:+.4g}"
    before, now = format_value(gate.metric, gate.reference), format_value(gate.metric, gate.current)
    return (
        f"{gate.metric} regressed {change} ({before} -> {now}) "
        f"starting at run {gate.started_at} [{gate.method}]"
    )


Regresses = Callable[[float], bool]
"""Whether a metric's series still regresses with the run's value replaced by this one."""


def regresses_with(
    metric: str,
    values: list[float | None],
    ids: list[str],
    rule: GateRule,
    settings: GateSettings,
) -> Regresses:
    """`metric`'s series judged again (`judge_series`) with another value for the run."""

    def regresses(value: float) -> bool:
        judged = judge_series(metric, [*values[:-1], value], ids, rule, settings)
        return judged.status == "regression"

    return regresses


def against_noise(
    gate: MetricGate,
    current: float | None,
    regresses: Regresses,
    record: RunRecord,
    history: list[RunRecord],
) -> MetricGate:
    """A latency or CPU-per-request regression judged again with the run's value lowered by
    what the host's disturbance may have added beyond the history's typical (median)
    noise: inconclusive when it is then no regression."""
    noise = run_noise(gate.metric, record)
    if noise is None or record.host is None:
        return gate
    usual = history_noise(gate.metric, history)
    excess = max(0.0, noise - usual)
    why = f"{describe_host(record.host)}: may have added up to {noise_text(gate.metric, noise)}"
    if usual:
        why += f", {noise_text(gate.metric, excess)} more than the history's runs typically met"
    gate = gate.model_copy(update={"disturbance": why})
    if gate.status != "regression" or not excess or current is None:
        return gate
    if regresses(current - excess):
        return gate
    return gate.model_copy(update={"status": "inconclusive", "reason": why})


def against_sampling(
    gate: MetricGate, current: float | None, regresses: Regresses, record: RunRecord
) -> MetricGate:
    """A latency percentile's regression judged again with the run's value at the low end
    of its 95 % confidence interval (`PhaseSummary.intervals`: what the run's number of
    requests can tell of it; the p99 of 400 requests is their 4th slowest, and lies anywhere
    from their 9th slowest up): ok when it is then no regression, with why."""
    whole = record.phase_summary(WHOLE)
    interval = whole.intervals.get(gate.metric) if whole is not None else None
    if gate.status != "regression" or interval is None or current is None:
        return gate
    low, high = interval
    if not low <= current <= high:  # not this value's interval (an edited record)
        return gate
    if regresses(low):
        return gate
    span = f"{format_value(gate.metric, low)} to {format_value(gate.metric, high)}"
    why = (
        f"within what {record.summary.requests} requests can tell: the run's"
        f" {gate.metric} lies from {span} (95 %), and its low end is no regression"
    )
    return gate.model_copy(update={"status": "ok", "reason": why, "started_at": ""})


def history_noise(metric: str, history: list[RunRecord]) -> float:
    """The median of what the host may have added to `metric` in the history's runs that
    measured their host (0 when none did)."""
    noises = [run_noise(metric, r) for r in history]
    measured = sorted(n for n in noises if n is not None)
    return float(median(measured)) if measured else 0.0


def inconclusive_line(gate: MetricGate) -> str:
    """'p99_ms +42.0 % (12.1 -> 17.2): the host was too noisy to judge (...)'."""
    change = f"{gate.relative:+.1%}" if gate.relative is not None else f"{gate.delta:+.4g}"
    before, now = format_value(gate.metric, gate.reference), format_value(gate.metric, gate.current)
    return f"{gate.metric} {change} ({before} -> {now}): the host was too noisy to judge ({gate.reason})"


def gate_records(
    record: RunRecord,
    history: list[RunRecord],
    settings: GateSettings,
    calibration: Calibration | None = None,
) -> GateResult:
    """The gate's result from records alone (pure); tolerances from `calibration` when
    it has one for a metric, else HEADLINE_RULES."""
    ids = [r.id for r in [*history, record]]
    metrics = []
    for metric, default in HEADLINE_RULES.items():
        rule = calibrated_rule(default, metric, calibration)
        values = [getattr(r.summary, metric) for r in [*history, record]]
        gate = _metric_gate(judge_series(metric, values, ids, rule, settings))
        regresses = regresses_with(metric, values, ids, rule, settings)
        gate = against_sampling(gate, values[-1], regresses, record)
        metrics.append(against_noise(gate, values[-1], regresses, record, history))
    failures = [verdict_line(v) for v in record.verdicts if v.outcome == "fail"]
    failures += [failure_line(m) for m in metrics if m.status == "regression"]
    inconclusive = [verdict_line(v) for v in record.verdicts if v.outcome == "inconclusive"]
    inconclusive += [inconclusive_line(m) for m in metrics if m.status == "inconclusive"]
    return GateResult(
        run=record.id,
        experiment=record.experiment.name,
        history=[r.id for r in history],
        verdicts=list(record.verdicts),
        metrics=metrics,
        passed=not failures and not inconclusive,
        failures=failures,
        inconclusive=inconclusive,
        min_history=settings.min_history,
        calibration=calibration.describe() if calibration is not None else "",
    )


def gate_run(
    run_dir: Path,
    history_dir: Path | None,
    settings: GateSettings,
    max_history: int = 30,
    calibration: Calibration | Literal["find"] | None = "find",
) -> GateResult:
    """Gate the run in `run_dir` against the history folder; `calibration="find"` looks for
    the experiment's calibration there (`<history>/calibration/<experiment>.json`)."""
    record = seen_here(load_run(run_dir))  # a run whose harness died is not running
    gateable(record, str(run_dir))
    folder = history_dir or run_dir.parent
    # listed once: every run.json is read for it; a copied run counts once
    earlier, duplicates = once_per_id(earlier_runs(record, folder))
    history, other_deployments = history_of(record, earlier, max_history)
    if calibration == "find":
        calibration = find_calibration(folder, record.experiment.name)
    result = gate_records(record, history, settings, calibration)
    left_out = {"skipped": unreadable(earlier), "duplicates": duplicates}
    return result.model_copy(update={**left_out, "other_deployments": other_deployments})
