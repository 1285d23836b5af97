"""compare_runs: two runs (or two sets of rounds) of one experiment, judged.

Input that cannot be compared (runs of different experiments, one run folder as both
baseline and candidate, a missing run.json or requests table, an aborted run) raises
`InvalidInput` with one line naming the problem.

Tolerances: `calibration="find"` (the default) looks for the experiment's calibration in
the baseline runs' reports folder (`<reports>/calibration/<experiment>.json`, written by
`meshproof calibrate`); a `Calibration` is used as given; None uses the built-in rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from harness.calibrate import Calibration, calibration_path, find_calibration
from harness.compare.config import CompareConfig
from harness.compare.judge import judge_metric, score_of
from harness.compare.measures import measure_all
from harness.compare.model import ComparisonResult
from harness.compare.noise import side_noise, verdict_with_noise, weigh_metric
from harness.compare.samples import has_measured_requests, pooled_samples
from harness.compare.tolerance import Tolerance, select_tolerance
from harness.store.liveness import seen_here
from harness.store.reader import StoredRun
from mesh_runtime.errors import InvalidInput

UNUSABLE = ("running", "aborted", "error")
CalibrationChoice = Calibration | None | Literal["find"]


def open_run(path: str | Path) -> StoredRun:
    """A run that can be compared: complete, with its requests table."""
    run = StoredRun(path)
    record = seen_here(run.record)  # a run whose harness died is not running
    if record.status in UNUSABLE:
        why = f": {record.error}" if record.error else ""
        raise InvalidInput(str(path), "status", f"the run is {record.status}, not comparable{why}")
    if not run.has_table("requests"):
        raise InvalidInput(str(path), "", "no requests.parquet in this run directory")
    if not has_measured_requests(run):  # else every latency metric is NoData: a pass
        file = str(run.path / "requests.parquet")
        raise InvalidInput(file, "", "no requests after warm-up: nothing to compare")
    return run


def _one_experiment(runs: Sequence[StoredRun]) -> str:
    names = {run.record.experiment.name for run in runs}
    if len(names) != 1:
        listed = ", ".join(sorted(names))
        raise InvalidInput("compare", "", f"runs of different experiments ({listed})")
    return names.pop()


def _sidecars(runs: Sequence[StoredRun]) -> str:
    return ", ".join(sorted({run.record.environment.sidecar_version for run in runs} - {""}))


def _calibration(
    choice: CalibrationChoice, baseline: Sequence[StoredRun], experiment: str
) -> tuple[Calibration | None, str]:
    """(the calibration to use, how to name it in the result)."""
    if choice != "find":
        return choice, "" if choice is None else choice.describe()
    reports = baseline[0].path.parent
    found = find_calibration(reports, experiment)
    if found is None:
        return None, ""
    return found, f"{found.describe()} ({calibration_path(reports, experiment)})"


def compare_run_sets(
    baseline_dirs: Sequence[str | Path],
    candidate_dirs: Sequence[str | Path],
    config: CompareConfig | None = None,
    calibration: CalibrationChoice = "find",
) -> ComparisonResult:
    """Baseline vs candidate, each side's runs pooled (rounds of one experiment): latency
    on the windows of every round, tolerances from the calibration when there is one."""
    config = config or CompareConfig()
    if not baseline_dirs or not candidate_dirs:
        raise InvalidInput("compare", "", "needs at least one baseline and one candidate run")
    baseline = [open_run(path) for path in baseline_dirs]
    candidate = [open_run(path) for path in candidate_dirs]
    experiment = _one_experiment([*baseline, *candidate])
    calibrated, calibration_name = _calibration(calibration, baseline, experiment)
    rng = np.random.default_rng(config.seed)
    sides = (baseline, candidate)
    measurements = measure_all(
        pooled_samples(baseline), pooled_samples(candidate), config.alpha, rng
    )
    results = []
    for measurement in measurements:
        rule = config.rule(measurement.metric)
        if not rule.enabled:
            continue
        tolerance: Tolerance | None = None
        if measurement.baseline is not None:
            tolerance = select_tolerance(
                measurement.metric, measurement.unit, measurement.baseline, config, calibrated
            )
        result = judge_metric(measurement, rule, config.alpha, tolerance)
        noise = [side_noise(result.metric, [run.record for run in side]) for side in sides]
        results.append(weigh_metric(result, rule, config.alpha, *noise))
    judged, passed, score = score_of(results)
    critical = [r.metric for r in results if r.failed and r.critical]
    notes = [] if judged else ["no metric had data on both sides"]
    return ComparisonResult(
        experiment=experiment,
        baseline_runs=[run.record.id or run.path.name for run in baseline],
        candidate_runs=[run.record.id or run.path.name for run in candidate],
        baseline_sidecar=_sidecars(baseline),
        candidate_sidecar=_sidecars(candidate),
        alpha=config.alpha,
        metrics=results,
        judged=judged,
        passed=passed,
        score=round(score, 1),
        verdict=verdict_with_noise(results, config),
        critical_failures=critical,
        notes=notes,
        calibration=calibration_name,
    )


def compare_runs(
    baseline_dir: str | Path,
    candidate_dir: str | Path,
    config: CompareConfig | None = None,
    calibration: CalibrationChoice = "find",
) -> ComparisonResult:
    """One baseline run against one candidate run (the dashboard's entry point). One
    folder on both sides is refused: judged against itself every metric passes
    (`compare latest latest` with one run), a Pass that says nothing."""
    if Path(baseline_dir).resolve() == Path(candidate_dir).resolve():
        open_run(baseline_dir)  # a run that cannot be compared at all says so first
        problem = f"the baseline and the candidate are the same run ({Path(candidate_dir).name})"
        raise InvalidInput("compare", "", f"{problem}: nothing to compare")
    return compare_run_sets([baseline_dir], [candidate_dir], config, calibration)
