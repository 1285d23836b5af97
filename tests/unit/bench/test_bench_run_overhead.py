"""The run-overhead bench's stages, read from a run's progress lines, and its table."""

from __future__ import annotations

from harness.bench.run_overhead import NAMES, stage_seconds, table

LINES = [
    (1.0, "meshproof run x.yaml: deploying shop (mesh, local runtime)"),
    (1.5, "meshproof run x.yaml: starting trace-sink, toxiproxy, prometheus"),
    (4.0, "meshproof run x.yaml: every sidecar runs config version 1"),
    (4.1, "meshproof run x.yaml: waiting until Prometheus scrapes every sidecar"),
    (5.0, "meshproof run x.yaml: starting the load (waiting for Locust to be ready)"),
    (6.5, "meshproof run x.yaml: running"),
    (8.0, "2s/10s  phase before  100 rps"),
    (16.5, "meshproof run x.yaml: rolling back faults and stopping the load"),
    (19.0, "meshproof run x.yaml: tearing down shop"),
    (20.0, "meshproof run x.yaml: analysing"),
]


def test_each_stage_runs_from_its_line_to_the_next_stages() -> None:
    """Start-up from the command's start; analyse until the process ended."""
    seconds = stage_seconds(LINES, 0.0, 21.5)
    assert seconds is not None
    assert list(seconds) == list(NAMES)
    expected = [1.0, 3.0, 1.0, 1.5, 10.0, 2.5, 1.0, 1.5, 21.5]
    assert [round(seconds[name], 6) for name in NAMES] == expected


def test_a_run_without_a_stage_line_has_no_stages() -> None:
    """A run that never started its load (no 'running' line) is not timed."""
    assert stage_seconds([t for t in LINES if not t[1].endswith(": running")], 0.0, 9.0) is None


def test_table_gives_medians_side_by_side_and_the_saving() -> None:
    """One row per stage: base, now and base - now."""
    base = {name: 2.0 for name in NAMES}
    now = [{name: 1.0 for name in NAMES}, {name: 3.0 for name in NAMES}, {**base}]
    lines = table({"base": [base], "now": now}).splitlines()
    assert lines[0].split() == ["stage", "base", "now", "saved"]
    assert lines[1].split() == ["startup", "2.00", "2.00", "0.00"]
    assert len(lines) == 1 + len(NAMES)
