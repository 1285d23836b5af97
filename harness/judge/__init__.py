"""SLO verdicts and the run's exit code (pure)."""

from harness.judge.verdicts import exit_code, judge, judge_one, run_status

__all__ = ["exit_code", "judge", "judge_one", "run_status"]
