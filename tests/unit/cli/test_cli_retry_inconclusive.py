"""`meshproof run --retry-inconclusive N`: run again while the host is too noisy to judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.main import main
from harness.cli.run import repeat_while_inconclusive
from harness.engine import RunResult
from harness.store import ExperimentRef, RunRecord

EXIT = {"passed": 0, "failed": 1, "inconclusive": 3}


class Runs:
    """Hands out finished runs with the given statuses, one per call, each its own folder."""

    def __init__(self, statuses: list[str]) -> None:
        self.statuses = list(statuses)
        self.calls = 0

    def __call__(self) -> RunResult:
        status = self.statuses[self.calls]
        self.calls += 1
        record = RunRecord(
            id=f"run-{self.calls}",
            experiment=ExperimentRef(name="baseline"),
            status=status,  # type: ignore[arg-type]
            started_at="2026-12-03T00:00:00Z",
        )
        return RunResult(record, Path(f"reports/run-{self.calls}"), EXIT[status])


def test_an_inconclusive_run_is_repeated_until_it_is_judged() -> None:
    """inconclusive, inconclusive, passed with 3 retries: three runs, the last one counts."""
    runs, told = Runs(["inconclusive", "inconclusive", "passed"]), []
    results = repeat_while_inconclusive(runs, 3, told.append)
    assert [r.record.status for r in results] == ["inconclusive", "inconclusive", "passed"]
    assert [r.path.name for r in results] == ["run-1", "run-2", "run-3"]
    assert told == [1, 2] and results[-1].exit_code == 0


def test_retries_stop_at_n_and_the_last_code_is_inconclusive() -> None:
    """Always noisy with 2 retries: 3 runs in all, exit 3."""
    runs = Runs(["inconclusive"] * 5)
    results = repeat_while_inconclusive(runs, 2, lambda n: None)
    assert runs.calls == 3 and results[-1].exit_code == 3


@pytest.mark.parametrize("status", ["passed", "failed"])
def test_a_judged_run_is_never_repeated(status: str) -> None:
    """Passed or failed: one run, whatever N is (a failure is not retried away)."""
    runs = Runs([status, "passed"])
    assert len(repeat_while_inconclusive(runs, 4, lambda n: None)) == 1


def test_without_the_option_nothing_is_repeated() -> None:
    """N = 0 (the default): one run, even an inconclusive one."""
    assert len(repeat_while_inconclusive(Runs(["inconclusive", "passed"]), 0, print)) == 1


def test_a_negative_count_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """--retry-inconclusive -1: exit 2 with a one-line reason, nothing run."""
    with pytest.raises(SystemExit) as exc:
        main(["run", "experiments/baseline.yaml", "--retry-inconclusive", "-1"])
    assert exc.value.code == 2
    assert "expected a whole number >= 0, got '-1'" in capsys.readouterr().err
