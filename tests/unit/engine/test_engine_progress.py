"""What a run shows while it goes (harness.engine.progress): lines for logs, the live panel."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from harness.engine.progress import (
    LineProgress,
    LiveProgress,
    QuietProgress,
    Snapshot,
    progress_line,
    progress_view,
)

BEHIND = Snapshot(
    phase="during:slow",
    elapsed_s=31.0,
    total_s=60.0,
    rps=52.0,
    target_rps=100.0,
    error_rate=0.0,
    p99_ms=830.0,
    sent=2400,
    failed=0,
    active_faults=("slow",),
    late=312,
    max_lag_ms=4200.0,
    connections=180,
    behind=True,
)


class Clock:
    """A settable clock for the line view's 10-second rhythm."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def snap(phase: str, elapsed: float) -> Snapshot:
    return Snapshot(phase=phase, elapsed_s=elapsed, total_s=60.0, rps=100.0, target_rps=100.0)


def log_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=80), out


def test_a_late_load_is_named_loudly_in_the_line() -> None:
    """Behind schedule: late count, max lag in seconds, connections, and the intended rate."""
    line = progress_line(BEHIND)
    assert "load BEHIND schedule: 312 late, max lag 4.2 s, 180 connections" in line
    assert "52 rps (target 100)" in line
    assert line.startswith("31s/60s  phase during:slow")


def test_an_on_time_load_has_no_warning() -> None:
    """On schedule: no BEHIND text, the rate without a target beside it."""
    line = progress_line(snap("before", 12.0))
    assert "BEHIND" not in line and "target" not in line
    assert "100 rps" in line


def test_line_view_prints_stages_phase_changes_and_every_ten_seconds() -> None:
    """A line per stage; per update only at a phase change, at falling behind or 10 s later."""
    console, out = log_console()
    clock = Clock()
    view = LineProgress("meshproof run x.yaml", console, clock=clock)
    view.stage("deploying shop")
    for second in range(0, 25):
        clock.now = float(second)
        view.update(snap("warmup" if second < 5 else "before", float(second)))
    clock.now = 25.0
    view.update(BEHIND)
    view.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "meshproof run x.yaml: deploying shop"
    elapsed = [line.split("s/")[0] for line in lines[1:]]
    assert elapsed == ["0", "5", "15", "31"]
    assert "phase before" in lines[2]
    assert "load BEHIND schedule" in lines[-1]
    assert all(len(line.splitlines()) == 1 for line in lines)


def test_progress_view_fits_the_output() -> None:
    """--quiet: nothing; a terminal: the live panel; anything else (a CI log): lines."""
    console, _ = log_console()
    assert isinstance(progress_view("t", console, quiet=True), QuietProgress)
    assert isinstance(progress_view("t", console), LineProgress)
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert isinstance(progress_view("t", terminal), LiveProgress)


def test_live_panel_shows_the_lag_too() -> None:
    """In a terminal the live panel carries the same BEHIND line and the intended rate."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    view = LiveProgress("meshproof run x.yaml", console)
    view.update(BEHIND)
    view.close()
    text = out.getvalue()
    assert "load BEHIND schedule: 312 late, max lag 4.2 s, 180 connections" in text
    assert "52 rps (target 100)" in text


def test_the_live_figures_say_the_seconds_they_cover() -> None:
    """Just after a fault ends the line says 'phase after' beside the last 3 s of figures,
    the fault's: 'last 3s:' says so, where 'phase after ... err 100.00%' read as the
    after phase failing."""
    after = dataclasses.replace(snap("after", 33.0), error_rate=1.0, window_s=3)
    line = progress_line(after)
    assert "phase after  last 3s: 100 rps  err 100.00%" in line
    assert "last" not in progress_line(snap("before", 12.0))  # not known: not claimed
