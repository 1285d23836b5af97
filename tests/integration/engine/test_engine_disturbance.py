"""Verdicts against the host's disturbance, on real runs: a CPU hog makes flipped latency
verdicts INCONCLUSIVE (exit 3), never FAIL; an effect far above the noise still FAILs.

The same short experiment (the shop at 50 RPS, 12 s measured) runs on the host as it is,
then under a CPU hog the test starts: two processes spinning on the two cores at a 90 %
duty cycle (90 ms busy, 10 ms asleep), each gone as soon as the test is. The second run's
latency SLOs sit just above what the first run measured, so a hog that slows the mesh
flips them; the third run (6 s measured) adds Toxiproxy latency on frontend->catalog under
the same hog and is judged against `p50_ms < 50`: 100 ms, plus twice what the judge said the
hog may have added to the hog run's p50, so the effect stands far above the noise however
hard the hog pressed this host (its p99 wake-up lag has read 1.8 ms on a host at load 11
and 9.7-12 ms on a quiet CI runner, where the allowance on p50 was 190-232 ms).

The reference is one run on a shared host: when others load it more during the reference
than during the hog run (seen at load 6-15), the hog run can come out faster in every
percentile, and then there is nothing to judge: not the judge's fault, the test's
precondition. So when the hog slowed no percentile the test takes the pair (reference,
hog run) once more; a second pair without a flip fails.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.judge.disturbance import noise_ms
from harness.store.model import HostDisturbance

pytestmark = pytest.mark.integration

HOG_DUTY = 0.9
HOG_PROCESSES = 2
LOAD = {"rps": 50, "warmup": "3s", "duration": "12s", "connections": 8}
TOXIC_LOAD = {**LOAD, "duration": "6s"}
PAIRS = 2
"""(reference, hog run) pairs taken at most, until the hog slowed a percentile."""
LATENCY = ("p50_ms", "p90_ms", "p99_ms")
TOXIC_MS = 100
"""The toxic's latency beyond twice the hog run's p50 allowance."""
STEP_MS = 50
ROUTE_TIMEOUT_MS = 5000
"""The shop's route timeout: a toxic at or above it would turn latency into errors."""
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


def hogged_run(
    out: Path, state_dir: Path, write_experiment: Callable[[dict[str, Any]], Path]
) -> tuple[int, dict[str, Any], dict[str, float]]:
    """A reference run on the host as it is, then the same load under the hog with latency
    SLOs 2 % above what the reference measured; the hog run's exit code, run.json and the
    reference's percentiles."""
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
    return code, hogged, measured


def flipped_verdicts(hogged: dict[str, Any]) -> list[dict[str, Any]]:
    """The latency verdicts whose value reached the threshold the reference set."""
    return [
        v for v in hogged["verdicts"] if v["metric"] in LATENCY and v["value"] >= v["threshold"]
    ]


def toxic_latency_ms(hogged: dict[str, Any]) -> int:
    """`TOXIC_MS` beyond twice what the judge allowed the hog to have added to the hog run's
    p50, in steps of `STEP_MS`: an effect far above the noise this host's hog makes."""
    allowance = noise_ms(
        "p50_ms", HostDisturbance.model_validate(hogged["host"]), hogged["wakeups"]
    )
    assert allowance is not None, hogged["host"]
    latency = STEP_MS * math.ceil((TOXIC_MS + 2 * allowance) / STEP_MS)
    print("p50 allowance under the hog", allowance, "ms; toxic", latency, "ms")
    assert latency < ROUTE_TIMEOUT_MS, f"the hog's noise ({allowance:.0f} ms) beyond any toxic"
    return latency


def test_a_cpu_hog_makes_flipped_latency_verdicts_inconclusive_not_failed(
    tmp_path: Path,
    state_dir: Path,
    write_experiment: Callable[[dict[str, Any]], Path],
) -> None:
    """Under the hog: every latency SLO the quiet run met and the hog run misses is
    INCONCLUSIVE with the disturbance named (exit 3), none FAILs; the error-rate SLO is
    judged as ever. With latency on an edge far above that noise under the same hog, p50 < 50
    FAILs (exit 1)."""
    out = tmp_path / "reports"
    for pair in range(PAIRS):
        code, hogged, measured = hogged_run(out, state_dir, write_experiment)
        verdicts = {v["metric"]: v for v in hogged["verdicts"]}
        print(
            f"pair {pair + 1}: quiet", measured, "hog", {m: verdicts[m]["value"] for m in LATENCY}
        )
        if flipped_verdicts(hogged):
            break
    host = hogged["host"]
    assert host["sched_lag_p99_ms"] is not None, host
    flipped = flipped_verdicts(hogged)
    print("host", host)
    assert flipped, f"the hog slowed no percentile in {PAIRS} pairs: {measured} -> {verdicts}"
    for verdict in flipped:
        assert verdict["outcome"] == "inconclusive", verdict
        assert not verdict["passed"]
        assert verdict["disturbance"].startswith("scheduling lag p50"), verdict
    assert all(verdicts[m]["outcome"] != "fail" for m in LATENCY), verdicts
    assert verdicts["error_rate"]["outcome"] == "pass"
    assert verdicts["error_rate"]["disturbance"] == ""
    assert (code, hogged["status"]) == (3, "inconclusive")

    latency = toxic_latency_ms(hogged)
    slowed = write_experiment(
        {
            "name": "host",
            "title": f"host, +{latency} ms on frontend->catalog",
            "load": TOXIC_LOAD,
            "faults": [
                {
                    "name": "slow-catalog",
                    "kind": "toxic",
                    "target": "frontend->catalog",
                    "at": "0s",
                    "duration": TOXIC_LOAD["duration"],
                    "params": {"type": "latency", "attributes": {"latency": latency}},
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
