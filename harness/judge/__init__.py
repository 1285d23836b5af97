"""SLO verdicts, the host's disturbance weighed against them, and the run's exit code (pure)."""

from harness.judge.disturbance import settle, wakeups_per_request, weigh
from harness.judge.verdicts import exit_code, judge, judge_one, run_status

__all__ = [
    "exit_code",
    "judge",
    "judge_one",
    "run_status",
    "settle",
    "wakeups_per_request",
    "weigh",
]
