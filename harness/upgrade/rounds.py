"""validate-upgrade's rounds: the same experiment with the baseline and the candidate sidecar.

Runs alternate, A B A B ... for `rounds` rounds, so slow drift of a shared machine
(other load, thermal throttling, caches) falls on both sides alike; each run goes through
the engine as `meshproof run` does, and each side's rounds are then pooled into one
comparison of the recorded runs (`harness.compare.compare_run_sets`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from harness.compare.compare import CalibrationChoice, compare_run_sets
from harness.compare.config import CompareConfig
from harness.compare.model import ComparisonResult
from harness.engine import ProgressView, RunOptions, RunResult, run_experiment
from harness.errors import RunError
from harness.upgrade.profiles import SidecarProfile
from mesh_runtime.errors import InvalidInput

Side = str  # "baseline" | "candidate"
ViewFor = Callable[[Side, int], ProgressView]
Announce = Callable[[Side, int, RunResult], None]


@dataclass(frozen=True)
class UpgradeRuns:
    baseline: list[Path]
    candidate: list[Path]


def schedule(rounds: int) -> list[tuple[Side, int]]:
    """The order of the runs: (side, round), interleaved. Pure."""
    if rounds < 1:
        raise InvalidInput("--rounds", "", "expected at least 1 round")
    return [(side, index) for index in range(1, rounds + 1) for side in ("baseline", "candidate")]


def run_rounds(
    experiment: Path,
    profiles: dict[Side, SidecarProfile],
    rounds: int,
    options: RunOptions,
    view_for: ViewFor,
    announce: Announce,
) -> UpgradeRuns:
    """Every run of the schedule; RunError when one could not be done."""
    done: dict[Side, list[Path]] = {"baseline": [], "candidate": []}
    for side, index in schedule(rounds):
        profile = profiles[side]
        run_options = replace(
            options, sidecar_command=profile.command, sidecar_version=profile.label
        )
        result = run_experiment(experiment, run_options, view_for(side, index))
        announce(side, index, result)
        if result.record.stopped:
            why = result.record.error or result.record.status
            raise RunError(f"round {index}, {side} ({profile.label}): the run failed: {why}")
        done[side].append(result.path)
    return UpgradeRuns(done["baseline"], done["candidate"])


def judge_rounds(
    runs: UpgradeRuns, config: CompareConfig, calibration: CalibrationChoice = "find"
) -> ComparisonResult:
    """The rounds pooled: each side's windows of every round (`compare_run_sets`)."""
    return compare_run_sets(runs.baseline, runs.candidate, config, calibration)
