"""The lines `meshproof run` and `demo` end with (harness.cli.run), on a fixture run."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from harness.cli.run import print_final_lines, print_next_steps, print_report
from harness.engine import RunResult
from harness.store.reader import load_run
from tests.fixtures.make_run import make_run


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The fixture run (7 SLOs, one failed) as `run_experiment` returns it."""
    path = make_run(tmp_path_factory.mktemp("reports"))
    return RunResult(load_run(path), path, 1)


def printed(function: object, result: RunResult) -> list[str]:
    out = io.StringIO()
    function(result, Console(file=out, width=80, soft_wrap=True))  # type: ignore[operator]
    return out.getvalue().splitlines()


def test_final_lines_have_one_line_per_verdict_passed_or_failed(result: RunResult) -> None:
    """Also with --quiet: a PASS or FAIL line for each SLO, then the status and the folder."""
    lines = printed(print_final_lines, result)
    verdicts = [line for line in lines if line.startswith(("PASS ", "FAIL "))]
    slos = [v.slo for v in result.record.verdicts]
    assert [line[5:].partition(": measured")[0] for line in verdicts] == slos
    assert sum(line.startswith("FAIL ") for line in verdicts) == 1
    assert lines[-2].startswith("FAILED: 6/7 SLOs passed")
    assert lines[-1] == f"report: {result.path}"


def test_a_run_stopped_before_its_metrics_does_not_name_their_source(result: RunResult) -> None:
    """A run stopped while it deployed read no metrics: its status line does not say where
    they came from (it said 'metrics from prometheus'); one that read them still does."""
    stopped = result.record.model_copy(
        update={"status": "aborted", "error": "interrupted by SIGINT", "tables": [], "verdicts": []}
    )
    lines = printed(print_final_lines, RunResult(stopped, result.path, 2))
    declared = result.record.declared_slos
    assert lines[-2] == (
        f"ABORTED (interrupted by SIGINT): 0/{declared} SLOs passed ({declared} not judged);"
        " stopped before any metrics"
    )
    kept = stopped.model_copy(update={"tables": ["requests", "metrics"]})
    line = printed(print_final_lines, RunResult(kept, result.path, 2))[-2]
    assert line.endswith(f"metrics from {result.record.metrics_source}")


def test_demo_ends_with_what_to_do_next_and_why_sent_is_more(result: RunResult) -> None:
    """The demo's last lines: report --html, dashboard, and the warm-up 'sent' counts too."""
    lines = printed(print_next_steps, result)
    assert "meshproof report latest --html" in lines[0]
    assert "meshproof dashboard" in lines[1]
    why = " ".join(lines[2:])
    assert "warm-up" in why and "first 5 s" in why and "about 250 requests" in why
    assert "requests measured" in why


def test_demo_headline_shows_requests_measured(result: RunResult) -> None:
    """The headline line counts the requests measured (after warm-up) and the rate."""
    lines = printed(print_report, result)
    assert lines[1].startswith(f"{result.record.summary.requests} requests measured: rps 50")
