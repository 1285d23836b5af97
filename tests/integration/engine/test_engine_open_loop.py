"""A PASS means users were fine: the load keeps its schedule, or the run says it did not.

The shop with inventory slowed to 400 ms at 60 RPS needs about 24 requests in flight. With
4 connections to start, the load grows its pool and requests leave on time; with the pool
capped at 4 it falls behind by seconds, and the service-time SLO, which would pass on the
400 ms the slow requests took, is judged on what users waited and fails, naming the lag.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main

pytestmark = pytest.mark.integration

FAULT = "slow-inventory"
SLO = f"p99_ms < 1500 during:{FAULT}"


def slow_backend(max_connections: int | None) -> dict[str, Any]:
    load: dict[str, Any] = {"rps": 60, "warmup": "2s", "duration": "9s", "connections": 4}
    if max_connections is not None:
        load["max_connections"] = max_connections
    return {
        "name": f"open-loop-{max_connections or 'grow'}",
        "title": "a slow backend needs more connections than the load starts with",
        "load": load,
        "faults": [
            {
                "name": FAULT,
                "kind": "service_behaviour",
                "target": "inventory",
                "at": "1s",
                "duration": "5s",
                "params": {"latency": {"distribution": "fixed", "mean_ms": 400}},
            }
        ],
        "slos": [SLO],
    }


def run(experiment: Path, out: Path, state_dir: Path) -> tuple[int, dict[str, Any]]:
    code = main(
        ["run", str(experiment), "--out", str(out), "--quiet", "--state-dir", str(state_dir)]
    )
    (run_dir,) = [p for p in out.iterdir() if (p / "run.json").is_file()]
    return code, json.loads((run_dir / "run.json").read_text())


def phase_values(record: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in record["phase_summaries"] if p["phase"] == name)


def test_the_pool_grows_so_requests_leave_on_time_and_the_slo_passes(
    tmp_path: Path, state_dir: Path, write_experiment: Callable[[dict[str, Any]], Path]
) -> None:
    """Growth on: during the slow phase few requests leave late and corrected p99 is the
    service time's; the SLO passes on service time with no lag named."""
    code, record = run(write_experiment(slow_backend(None)), tmp_path / "out", state_dir)
    during = phase_values(record, f"during:{FAULT}")
    values = during["values"]
    assert values["late_share"] < 0.02, values
    assert values["corrected_p99_ms"] <= values["p99_ms"] + 50
    assert values["p99_ms"] >= 400  # the slow backend was really reached
    assert "load" not in during["notes"]
    (verdict,) = record["verdicts"]
    assert verdict["outcome"] in ("pass", "inconclusive"), verdict
    assert "fell behind" not in verdict["reason"]
    assert code in (0, 3)


def test_a_capped_pool_falls_behind_and_the_service_time_slo_does_not_pass(
    tmp_path: Path, state_dir: Path, write_experiment: Callable[[dict[str, Any]], Path]
) -> None:
    """Pool capped at 4: 10 RPS of the 60 wanted leave during the fault; the run names the lag
    (share late, largest lag) and the p99 SLO fails on corrected latency with that reason."""
    code, record = run(write_experiment(slow_backend(4)), tmp_path / "out", state_dir)
    during = phase_values(record, f"during:{FAULT}")
    values = during["values"]
    assert values["late_share"] > 0.5
    assert values["max_send_lag_ms"] > 2000
    assert values["rps"] < 0.5 * values["target_rps"]
    assert "the load fell behind its schedule by up to" in during["notes"]["load"]
    (verdict,) = record["verdicts"]
    assert verdict["outcome"] == "fail" and code == 1
    assert verdict["value"] == pytest.approx(values["corrected_p99_ms"])
    assert verdict["value"] > 1500
    assert "service time" in verdict["reason"] and "fell behind" in verdict["reason"]
    assert record["summary"]["max_send_lag_ms"] > 2000
