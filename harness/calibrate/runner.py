"""Where a calibration's runs come from: run the experiment N times, or earlier runs.

Running goes through the engine exactly as `meshproof run` does (deploy, load, faults,
analyse, write, tear down), one run after the other; every run is kept in the reports
folder like any other. A run that could not be done (aborted, error) stops the
calibration: its spread would describe the failure, not the host.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.engine import ProgressView, RunOptions, RunResult, run_experiment
from harness.errors import RunError
from harness.store.deployment import deployment_text, same_deployment
from harness.store.reader import StoredRun, list_runs, once_per_id, unreadable
from mesh_runtime.errors import InvalidInput

COMPLETE = ("passed", "failed", "inconclusive")
"""Runs that ran to their end (inconclusive: the host too noisy to judge; still measured)."""
ViewFor = Callable[[int], ProgressView]
Announce = Callable[[int, RunResult], None]


def run_repeatedly(
    experiment: Path, runs: int, options: RunOptions, view_for: ViewFor, announce: Announce
) -> list[Path]:
    """The run directories of `runs` runs of `experiment`, in order."""
    done = []
    for index in range(1, runs + 1):
        result = run_experiment(experiment, options, view_for(index))
        announce(index, result)
        if result.record.status not in COMPLETE:
            why = result.record.error or result.record.status
            raise RunError(f"calibration run {index}/{runs} could not be done: {why}")
        done.append(result.path)
    return done


def history_runs(folder: Path, experiment: str, runs: int) -> tuple[list[StoredRun], list[str]]:
    """The newest `runs` complete runs of `experiment` in `folder` made against the newest
    one's deployment (`harness.store.deployment`: its runtime and external target), each
    run id once, oldest first, and a line per run left out, for the command to say:
    'unreadable: <id>: <problem>', 'duplicate: <folder>: a copy of run <id>, in <folder>'
    (`once_per_id`), or one counting the runs against other deployments (their spread
    would be the deployments' difference, not the runs')."""
    listings, copies = once_per_id(list_runs(folder, experiment))
    complete = [item for item in listings if item.status in COMPLETE]
    if not complete:
        raise InvalidInput(str(folder), "", f"no complete run of {experiment!r} in this folder")
    left_out = [f"unreadable: {line}" for line in unreadable(listings)]
    left_out += [f"duplicate: {line}" for line in copies]
    same, others = same_deployment(complete[-1].deployment, complete, lambda item: item.deployment)
    chosen = [StoredRun(item.path) for item in same[-runs:]]
    if others:
        runs_were = "run was" if len(others) == 1 else "runs were"
        left_out.append(
            f"other deployments: {len(others)} {runs_were} not against the newest run's,"
            f" {deployment_text(chosen[-1].record)}"
        )
    return chosen, left_out
