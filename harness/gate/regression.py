"""Is the newest run of a series a regression against its history? Pure.

Two judgments per headline metric, over the series `history..., current` (oldest first):

1. change point — E-divisive means (`harness.gate.edivisive`) over the whole series. A
   significant change point that starts within the last `window` runs, after which the
   mean moved in the harmful direction by at least the minimum magnitude, is a regression
   that started at that run (so a regression still fails the next nights, until it is
   `window` runs old and becomes the new normal).
2. outlier — the current value against the runs since the last change point before it
   (at least `min_history` of them, else the whole history): a t-test of one new
   observation against a sample (the prediction interval, df = n - 1), so one bad night
   at the end of the series, which no permutation test of a short series can see, fails.

Either needs `p < alpha` and a change of at least the metric's minimum magnitude in its
harmful direction (against a single earlier run, `--min-history 1`, there is no spread to
test: the minimum magnitude alone decides); noise below that never fails a build. The minimum magnitude is the
stored calibration's tolerance for the metric when the experiment was calibrated
(`meshproof calibrate`: the difference two runs of the unchanged experiment stay within on
this host), else the built-in `max(relative x reference, absolute)`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import stats

from harness.calibrate.model import Calibration
from harness.compare.config import Direction
from harness.gate.edivisive import ChangePoint, e_divisive

Status = Literal["regression", "improvement", "ok", "nodata"]


@dataclass(frozen=True)
class GateRule:
    direction: Direction = "increase"
    relative: float = 0.10
    absolute: float = 0.0
    calibrated: float | None = None
    """The calibration's tolerance (absolute), replacing `relative` and `absolute`."""
    source: str = ""
    """Where `calibrated` came from ('calibration of 5 runs on 2026-12-03')."""

    def minimum(self, reference: float) -> float:
        """The smallest change that can fail."""
        if self.calibrated is not None:
            return self.calibrated
        return max(self.relative * abs(reference), self.absolute)

    def source_text(self) -> str:
        """'calibration of 5 runs on ...' or 'default (10 % or 1)'."""
        if self.calibrated is not None:
            return self.source
        return f"default ({self.relative * 100:g} % or {self.absolute:g})"


def calibrated_rule(rule: GateRule, metric: str, calibration: Calibration | None) -> GateRule:
    """`rule` with the calibration's tolerance for `metric`, when it has a usable one."""
    spread = calibration.spread(metric) if calibration is not None else None
    if calibration is None or spread is None:
        return rule
    return replace(rule, calibrated=spread.tolerance, source=calibration.describe())


@dataclass(frozen=True)
class GateSettings:
    alpha: float = 0.05
    min_history: int = 3
    window: int = 3
    permutations: int = 199
    seed: int = 1


@dataclass(frozen=True)
class SeriesJudgment:
    metric: str
    status: Status
    current: float | None = None
    reference: float | None = None
    """The mean the current value is judged against."""
    delta: float | None = None
    p_value: float | None = None
    method: str = ""
    started_at: str = ""
    """The run the change started from."""
    change_points: tuple[str, ...] = ()
    reason: str = ""
    tolerance: float | None = None
    """The minimum magnitude the change was held to (None: not judged)."""
    tolerance_source: str = ""

    @property
    def relative(self) -> float | None:
        if self.delta is None or not self.reference:
            return None
        return self.delta / abs(self.reference)


def _harm(delta: float, rule: GateRule, reference: float) -> Status:
    if abs(delta) < rule.minimum(reference):
        return "ok"
    worse = {"increase": delta > 0, "decrease": delta < 0, "either": True}[rule.direction]
    return "regression" if worse else "improvement"


def prediction_p(reference: np.ndarray, value: float) -> float:
    """Two-sided p of one new observation against a sample (t, df = n - 1)."""
    n = len(reference)
    mean, spread = float(reference.mean()), float(reference.std(ddof=1))
    if spread == 0:
        return 1.0 if value == mean else 0.0
    t = (value - mean) / (spread * math.sqrt(1 + 1 / n))
    return float(2 * stats.t.sf(abs(t), n - 1))


def _outlier(
    values: np.ndarray, points: Sequence[ChangePoint], settings: GateSettings
) -> np.ndarray:
    """The reference sample for the current value: the history since the last change."""
    history = values[:-1]
    starts = [c.index for c in points if c.index <= len(history) - settings.min_history]
    reference = history[max(starts, default=0) :]
    return reference if len(reference) >= settings.min_history else history


def judge_series(
    metric: str,
    values: Sequence[float | None],
    run_ids: Sequence[str],
    rule: GateRule,
    settings: GateSettings,
) -> SeriesJudgment:
    """The judgment of the last value of `values` (run `run_ids[-1]`) against the rest."""
    pairs = [
        (v, r) for v, r in zip(values, run_ids, strict=True) if v is not None and math.isfinite(v)
    ]
    if not pairs or pairs[-1][1] != run_ids[-1]:
        return SeriesJudgment(metric, "nodata", reason="the run did not measure it")
    series = np.array([v for v, _ in pairs])
    ids = [r for _, r in pairs]
    current = float(series[-1])
    if len(series) - 1 < settings.min_history:
        why = f"{len(series) - 1} earlier runs measured it, {settings.min_history} needed"
        return SeriesJudgment(metric, "nodata", current=current, reason=why)
    rng = np.random.default_rng(settings.seed)
    points = e_divisive(series, alpha=settings.alpha, permutations=settings.permutations, rng=rng)
    names = tuple(ids[c.index] for c in points)
    shift = _recent_shift(metric, series, ids, points, rule, settings)
    if shift is not None:
        return shift
    reference = _outlier(series, points, settings)
    mean = float(reference.mean())
    delta = current - mean
    if len(reference) < 2:
        # One earlier run has no spread to test against (`--min-history 1`): the change
        # is judged by the minimum magnitude alone.
        p_value: float | None = None
        status = _harm(delta, rule, mean)
        method = "against 1 run (no spread: minimum magnitude only)"
    else:
        p_value = prediction_p(reference, current)
        status = _harm(delta, rule, mean) if p_value < settings.alpha else "ok"
        method = f"outlier vs {len(reference)} runs (prediction t-test)"
    return SeriesJudgment(
        metric, status, current, mean, delta, p_value, method,
        started_at=ids[-1] if status != "ok" else "", change_points=names,
        tolerance=rule.minimum(mean), tolerance_source=rule.source_text(),
    )  # fmt: skip


def _recent_shift(
    metric: str,
    series: np.ndarray,
    ids: Sequence[str],
    points: Sequence[ChangePoint],
    rule: GateRule,
    settings: GateSettings,
) -> SeriesJudgment | None:
    """A harmful change point in the last `window` runs, judged; None when there is none."""
    bounds = [0, *(c.index for c in points), len(series)]
    for k, point in enumerate(points):
        if point.index < len(series) - settings.window:
            continue
        before = float(series[bounds[k] : point.index].mean())
        delta = float(series[point.index :].mean()) - before
        if _harm(delta, rule, before) == "regression":
            return SeriesJudgment(
                metric,
                "regression",
                current=float(series[-1]),
                reference=before,
                delta=delta,
                p_value=point.p_value,
                method=f"E-divisive means change point (permutation p={point.p_value:.3g})",
                started_at=ids[point.index],
                change_points=tuple(ids[c.index] for c in points),
                tolerance=rule.minimum(before),
                tolerance_source=rule.source_text(),
            )
    return None
