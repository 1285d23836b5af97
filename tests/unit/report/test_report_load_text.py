"""How the load's schedule reads: achieved and intended RPS, late share, lag (report.text)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.report.text import behind_line, lag_text, load_text, phase_rows, rate_text
from harness.store.reader import load_run
from tests.fixtures.make_run import make_run


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fixture run whose load kept its schedule, and one 4.2 s behind during its fault."""
    root = tmp_path_factory.mktemp("reports")
    return {
        "on_time": make_run(root, seed=1, started_at=datetime(2026, 3, 1, tzinfo=UTC)),
        "behind": make_run(root, seed=1, behind_s=4.2, started_at=datetime(2026, 3, 2, tzinfo=UTC)),
    }


def test_rate_shows_the_intended_one_only_when_off_by_more_than_one_percent() -> None:
    """'49.8' beside 50 reads as the rate; 35 beside 50 says what was intended."""
    assert rate_text(49.8, 50.0) == "49.8"
    assert rate_text(35.0, 50.0) == "35 (intended 50)"
    assert rate_text(35.0, None) == "35"
    assert rate_text(None, 50.0) == "no data"


def test_load_reads_on_time_behind_or_unknown() -> None:
    """Late sends under the lead's bounds are on time; over both, BEHIND with share and lag."""
    assert load_text(None, None) == "-"
    assert load_text(0.3, 74.0) == "on time"  # many a little late: jitter, not behind
    assert load_text(0.0005, 5000.0) == "on time"  # one very late send in a long phase
    assert load_text(0.37, 16_400.0) == "BEHIND: 37 % late, lag up to 16.4 s"
    assert lag_text(312.4) == "312 ms"


def test_report_md_opens_with_the_lag_and_marks_the_phase(reports: dict[str, Path]) -> None:
    """report.md of a run that fell behind: a loud line before the verdicts, and the fault's
    phase row with the achieved RPS beside the intended and its late share and lag."""
    text = (reports["behind"] / "report.md").read_text(encoding="utf-8")
    head = text.split("## Verdicts")[0]
    assert "> **LOAD FELL BEHIND its schedule: requests left up to 4.2 s late" in head
    during = next(line for line in text.splitlines() if line.startswith("| during:catalog-503"))
    assert "35 (intended 50)" in during and "BEHIND: 99.8 % late, lag up to 4.2 s" in during
    calm = (reports["on_time"] / "report.md").read_text(encoding="utf-8")
    assert "FELL BEHIND" not in calm and "BEHIND" not in calm


def test_phase_rows_say_on_time_for_a_load_that_kept_its_schedule(
    reports: dict[str, Path],
) -> None:
    """Every phase of the on-time run reads 'on time' and its plain achieved rate."""
    record = load_run(reports["on_time"])
    assert behind_line(record) is None
    assert {row[-1] for row in phase_rows(record)} == {"on time"}


def test_html_report_warns_when_the_load_fell_behind(reports: dict[str, Path]) -> None:
    """`report --html`: the run that fell behind has the loud line in a warning box."""
    from harness.report.html import render_html

    page = render_html(reports["behind"])
    assert '<p class="error-box">LOAD FELL BEHIND its schedule: requests left up to 4.2 s' in page
    assert "LOAD FELL BEHIND" not in render_html(reports["on_time"])
