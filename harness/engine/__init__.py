"""The experiment engine: deploy -> observe -> load + fault timeline -> analyse -> judge -> write.

result = run_experiment("experiments/baseline.yaml", RunOptions(), QuietProgress())
result.exit_code, result.path, result.record.status
"""

from harness.engine.interrupts import InterruptGuard, RunInterrupted
from harness.engine.progress import LiveProgress, ProgressView, QuietProgress, Snapshot
from harness.engine.runner import RunOptions, RunResult, prepare, run_experiment
from harness.engine.scheduler import Scheduler
from harness.engine.timeline import Action, plan_actions, scale_experiment

__all__ = [
    "Action",
    "InterruptGuard",
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
    "run_experiment",
    "scale_experiment",
]
