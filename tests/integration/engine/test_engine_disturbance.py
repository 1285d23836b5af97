"""Verdicts against the host's disturbance, on real runs: a CPU hog makes flipped latency
verdicts INCONCLUSIVE (exit 3), never FAIL; an effect far above the noise still FAILs.

The same short experiment (the shop at 50 RPS, 12 s measured) runs on the host as it is,
then under a CPU hog the test starts: two processes spinning on the two cores at a 90 %
duty cycle (90 ms busy, 10 ms asleep), each gone as soon as the test is. The second run's
latency SLOs sit just above what the first run measured, so a hog that slows the mesh
flips them; the third run adds 100 ms of Toxiproxy latency on frontend->catalog under
the same hog and is judged against `p50_ms < 50`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main

pytestmark = pytest.mark.integration

HOG_DUTY = 0.9
HOG_PROCESSES = 2
LOAD = {"rps": 50, "warmup": "3s", "duration": "12s", "connections": 8}
LATENCY = ("p50_ms", "p90_ms", "p99_ms")
HOG = """
import os, sys, time
duty, parent = float(sys.argv[1]), int(sys.argv[2])
period = 0.1
while os.getppid() == parent:
    start = time.perf_counter()
    while time.perf_counter() - start < duty * period:
        pass
    time.sleep((1 - duty) * period)
"""


@contextmanager
def cpu_hog(duty: float = HOG_DUTY, processes: int = HOG_PROCESSES) -> Iterator[None]:
    """Processes spinning at `duty`; they stop with the block (or when the test dies)."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", HOG, str(duty), str(os.getpid())])
        for _ in range(processes)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def run(experiment: Path, out: Path, state_dir: Path) -> tuple[int, dict[str, Any]]:
    """`meshproof run` in this process; the exit code and run.json of its one new run."""
    before = set(out.iterdir()) if out.exists() else set()
    args = ["run", str(experiment), "--out", str(out), "--quiet", "--state-dir", str(state_dir)]
    code = main(args)
    (run_dir,) = set(out.iterdir()) - before
    return code, json.loads((run_dir / "run.json").read_text())


def latency_slos(measured: dict[str, float]) -> list[str]:
    """An SLO per latency percentile, 2 % above what a run measured."""
    return [f"{metric} < {measured[metric] * 1.02:.2f}" for metric in LATENCY]


def test_a_cpu_hog_makes_flipped_latency_verdicts_inconclusive_not_failed(
    tmp_path: Path,
    state_dir: Path,
    write_experiment: Callable[[dict[str, Any]], Path],
) -> None:
    """Under the hog: every latency SLO the quiet run met and the hog run misses is
    INCONCLUSIVE with the disturbance named (exit 3), none FAILs; the error-rate SLO is
    judged as ever. With +100 ms on an edge under the same hog, p50 < 50 FAILs (exit 1)."""
    out = tmp_path / "reports"
    quiet = write_experiment(
        {
            "name": "host",
            "title": "host",
            "load": LOAD,
            "slos": ["p50_ms < 10000", "error_rate < 0.01"],
        }
    )
    code, reference = run(quiet, out, state_dir)
    assert code == 0, reference["verdicts"]
    whole = next(p for p in reference["phase_summaries"] if p["phase"] == "whole")
    measured = {metric: whole["values"][metric] for metric in LATENCY}

    tight = write_experiment(
        {
            "name": "host",
            "title": "host",
            "load": LOAD,
            "slos": [*latency_slos(measured), "error_rate < 0.01"],
        }
    )
    with cpu_hog():
        code, hogged = run(tight, out, state_dir)
    host = hogged["host"]
    assert host["sched_lag_p99_ms"] is not None, host
    verdicts = {v["metric"]: v for v in hogged["verdicts"]}
    flipped = [v for m, v in verdicts.items() if m in LATENCY and v["value"] >= v["threshold"]]
    print("quiet", measured, "hog", {m: verdicts[m]["value"] for m in LATENCY}, "host", host)
    assert flipped, f"the hog slowed no percentile: {measured} -> {verdicts}"
    for verdict in flipped:
        assert verdict["outcome"] == "inconclusive", verdict
        assert not verdict["passed"]
        assert verdict["disturbance"].startswith("scheduling lag p50"), verdict
    assert all(verdicts[m]["outcome"] != "fail" for m in LATENCY), verdicts
    assert verdicts["error_rate"]["outcome"] == "pass"
    assert verdicts["error_rate"]["disturbance"] == ""
    assert (code, hogged["status"]) == (3, "inconclusive")

    slowed = write_experiment(
        {
            "name": "host",
            "title": "host, +100 ms on frontend->catalog",
            "load": LOAD,
            "faults": [
                {
                    "name": "slow-catalog",
                    "kind": "toxic",
                    "target": "frontend->catalog",
                    "at": "0s",
                    "duration": "12s",
                    "params": {"type": "latency", "attributes": {"latency": 100}},
                }
            ],
            "slos": ["p50_ms < 50 during:slow-catalog", "error_rate < 0.01"],
        }
    )
    with cpu_hog():
        code, toxic = run(slowed, out, state_dir)
    p50 = toxic["verdicts"][0]
    print("toxic under the hog", p50)
    assert p50["outcome"] == "fail", p50
    assert p50["disturbance"].startswith("scheduling lag p50"), p50
    assert (code, toxic["status"]) == (1, "failed")
