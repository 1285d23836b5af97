"""What `meshproof run` writes into a CI log (stdout no terminal), from a real short run."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.engine.enginekit import HarnessProcess

pytestmark = pytest.mark.integration

SLOW_CATALOG: dict[str, Any] = {
    "name": "slow-catalog",
    "title": "catalog slowed to 400 ms with the load capped at 2 connections",
    # 40 RPS through 2 connections at 400 ms each: about 5 RPS can leave on time
    "load": {"rps": 40, "warmup": "2s", "duration": "14s", "connections": 2, "max_connections": 2},
    "faults": [
        {
            "name": "slow",
            "kind": "service_behaviour",
            "target": "catalog",
            "at": "2s",
            "duration": "5s",
            "params": {"latency": {"distribution": "fixed", "mean_ms": 400}},
        }
    ],
    "slos": ["error_rate < 0.5", "p99_ms < 100 during:slow"],
}


def test_a_ci_log_gets_progress_lines_the_lag_and_every_verdict(
    tmp_path: Path,
    state_dir: Path,
    write_experiment: Callable[[dict[str, Any]], Path],
    harness: Callable[[list[str]], HarnessProcess],
) -> None:
    """No terminal, no --quiet: a line at each phase change (and every 10 s), the load's
    BEHIND line while it is capped, then one line per SLO and the status."""
    experiment = write_experiment(SLOW_CATALOG)
    out = tmp_path / "reports"
    process = harness(["run", str(experiment), "--out", str(out), "--state-dir", str(state_dir)])
    code = process.wait(300)
    log = process.log.read_text(encoding="utf-8", errors="replace")
    lines = log.splitlines()
    assert code == 1, log
    progress = [line for line in lines if re.match(r"\d+s/\d+s  phase ", line)]
    phases = [line.split("  phase ")[1].split()[0] for line in progress]
    assert {"before", "during:slow", "after"} <= set(phases), log  # warm-up: if Locust was quick
    assert any("load BEHIND schedule: " in line and "connections" in line for line in progress)
    assert "\x1b[" not in log  # no terminal control sequences in a CI log
    assert sum(line.startswith("PASS error_rate < 0.5: measured") for line in lines) == 1, log
    assert sum(line.startswith("FAIL p99_ms < 100 during:slow: measured") for line in lines) == 1
    assert any(line.startswith("LOAD FELL BEHIND its schedule") for line in lines), log
    assert any(line.startswith("FAILED: 1/2 SLOs passed") for line in lines), log
