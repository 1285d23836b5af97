"""compare_runs: two runs (or two sets of rounds) of one experiment, judged.

Input that cannot be compared (runs of different experiments, a missing run.json or
requests table, an aborted run) raises `InvalidInput` with one line naming the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.compare.config import CompareConfig
from harness.compare.judge import judge_metric, score_of, verdict_of
from harness.compare.measures import measure_all
from harness.compare.model import ComparisonResult
from harness.compare.samples import pooled_samples
from harness.store.reader import StoredRun
from mesh_runtime.errors import InvalidInput

UNUSABLE = ("running", "aborted", "error")


def open_run(path: str | Path) -> StoredRun:
    """A run that can be compared: complete, with its requests table."""
    run = StoredRun(path)
    if run.record.status in UNUSABLE:
        raise InvalidInput(str(path), "status", f"the run is {run.record.status}, not comparable")
    if not run.has_table("requests"):
        raise InvalidInput(str(path), "", "no requests.parquet in this run directory")
    return run


def _one_experiment(runs: Sequence[StoredRun]) -> str:
    names = {run.record.experiment.name for run in runs}
    if len(names) != 1:
        listed = ", ".join(sorted(names))
        raise InvalidInput("compare", "", f"runs of different experiments ({listed})")
    return names.pop()


def _sidecars(runs: Sequence[StoredRun]) -> str:
    return ", ".join(sorted({run.record.environment.sidecar_version for run in runs} - {""}))


def compare_run_sets(
    baseline_dirs: Sequence[str | Path],
    candidate_dirs: Sequence[str | Path],
    config: CompareConfig | None = None,
) -> ComparisonResult:
    """Baseline vs candidate, each side's runs pooled (rounds of one experiment)."""
    config = config or CompareConfig()
    if not baseline_dirs or not candidate_dirs:
        raise InvalidInput("compare", "", "needs at least one baseline and one candidate run")
    baseline = [open_run(path) for path in baseline_dirs]
    candidate = [open_run(path) for path in candidate_dirs]
    experiment = _one_experiment([*baseline, *candidate])
    rng = np.random.default_rng(config.seed)
    measurements = measure_all(
        pooled_samples(baseline), pooled_samples(candidate), config.alpha, rng
    )
    results = []
    for measurement in measurements:
        rule = config.rule(measurement.metric)
        if rule.enabled:
            results.append(judge_metric(measurement, rule, config.alpha))
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
        verdict=verdict_of(score, bool(critical), judged, config),
        critical_failures=critical,
        notes=notes,
    )


def compare_runs(
    baseline_dir: str | Path, candidate_dir: str | Path, config: CompareConfig | None = None
) -> ComparisonResult:
    """One baseline run against one candidate run (the dashboard's entry point)."""
    return compare_run_sets([baseline_dir], [candidate_dir], config)
