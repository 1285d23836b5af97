"""The experiment engine: deploy -> observe -> load + fault timeline -> analyse -> judge -> write.

result = run_experiment("experiments/baseline.yaml", RunOptions(), QuietProgress())
result.exit_code, result.path, result.record.status
"""

from harness.engine.interrupts import InterruptGuard, RunInterrupted
from harness.engine.options import RunOptions
from harness.engine.progress import (
    LineProgress,
    LiveProgress,
    ProgressView,
    QuietProgress,
    Snapshot,
    progress_view,
)
from harness.engine.runner import RunResult, prepare, run_experiment
from harness.engine.scheduler import Scheduler
from harness.engine.timeline import Action, plan_actions, scale_experiment

__all__ = [
    "Action",
    "InterruptGuard",
    "LineProgress",
    "LiveProgress",
    "ProgressView",
    "QuietProgress",
    "RunInterrupted",
    "RunOptions",
    "RunResult",
    "Scheduler",
    "Snapshot",
    "plan_actions",
    "prepare",
    "progress_view",
    "run_experiment",
    "scale_experiment",
]
