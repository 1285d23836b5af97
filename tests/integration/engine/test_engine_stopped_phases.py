"""A run stopped in its measured load: its phases end where it stopped, not after the teardown."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.integration.engine.enginekit import HarnessProcess, wait_for

pytestmark = pytest.mark.integration

EXPERIMENT: dict[str, Any] = {
    "name": "stop-me",
    "title": "no fault, stopped a few seconds into its measured load",
    "load": {"rps": 40, "warmup": "1s", "duration": "60s", "connections": 4},
    "slos": ["error_rate < 0.5"],
}


def records_past_warmup(out: Path) -> bool:
    """The load has sent requests for a while (more than its warm-up's worth)."""
    files = list(out.glob("*/load/requests-w*.jsonl"))
    return sum(len(path.read_bytes().splitlines()) for path in files) > 80


def test_a_stopped_runs_phases_end_where_its_load_stopped(
    tmp_path: Path,
    state_dir: Path,
    write_experiment: Callable[[dict[str, Any]], Path],
    harness: Callable[[list[str]], HarnessProcess],
) -> None:
    """SIGINT mid-load: every phase ends when the load stopped (the abort's note), not when
    run.json was written after the teardown, so no phase counts the teardown's seconds."""
    out = tmp_path / "reports"
    args = ["run", str(write_experiment(EXPERIMENT)), "--out", str(out), "--quiet"]
    process = harness([*args, "--state-dir", str(state_dir)])
    wait_for(lambda: records_past_warmup(out), 120, "the load sending past its warm-up")
    process.proc.send_signal(signal.SIGINT)
    assert process.wait(120) == 2
    (path,) = [p for p in out.iterdir() if p.is_dir()]
    record = json.loads((path / "run.json").read_text())
    assert record["status"] == "aborted"
    events = pd.read_parquet(path / "events.parquet")
    stopped_s = float(events[events["detail"].str.startswith("aborted:")]["t_s"].iloc[0])
    ends = {phase["name"]: phase["end_s"] for phase in record["phases"]}
    assert set(ends) == {"warmup", "before", "whole"}
    assert stopped_s <= ends["whole"] < stopped_s + 1.0, (stopped_s, ends)
    assert ends["before"] == ends["whole"]
