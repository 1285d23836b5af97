"""The in-process listener benchmark measures the path a real request takes."""

from __future__ import annotations

import pytest

from harness.bench.hotpath import main, measure


def test_every_request_is_answered_and_costs_some_cpu() -> None:
    """Each repeat gives one positive figure; the run would fail had a request been
    refused (then the refusal path, not the request path, would be measured)."""
    figures = measure(requests=200, repeats=2)
    assert len(figures) == 2 and all(f > 0 for f in figures)


def test_the_report_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--requests", "100", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sidecar listener, Python per request") and out.count("\n") == 1


def test_a_bad_count_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--requests", "0"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().endswith("--requests and --repeats >= 1")
