"""The experiment library, run for real and short (`meshproof run ... --duration 20s`).

Each test runs one file of `experiments/` on the local runtime, checks that the SLOs the
file promises hold (latency thresholds are tuned on a quiet machine: a test only checks
they were measured), that the fault really happened (the mesh's own counters, events),
and that the run directory was written with nothing left on the fault ledger.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.engine.interleaved import ROUNDS
from tests.integration.engine.enginekit import HarnessProcess
from tests.integration.library.librarykit import (
    LibraryRun,
    assert_run_files,
    assert_verdicts_hold,
    counter_increase,
    run_library,
)

pytestmark = pytest.mark.integration

Harness = Callable[[list[str]], HarnessProcess]
DURATION = "20s"
SETTLE_S = 2.0
"""Counters are scraped each second: a phase's first seconds may still show the one before."""


def run(
    harness: Harness, name: str, tmp_path: Path, state_dir: Path, duration: str = DURATION
) -> LibraryRun:
    result = run_library(harness, name, duration, tmp_path / "reports", state_dir)
    assert_run_files(result)
    assert_verdicts_hold(result)
    return result


def test_retry_masks_503(harness: Harness, tmp_path: Path, state_dir: Path) -> None:
    """A replica failing 30 % with 503: no user error while retries (counted) mask it."""
    result = run(harness, "retry-masks-503", tmp_path, state_dir)
    during = result.phase("during:catalog-1-503")["values"]
    assert during["error_rate"] == 0.0
    assert during["retries_per_krequests"] > 10


def test_outlier_ejection(harness: Harness, tmp_path: Path, state_dir: Path) -> None:
    """A replica failing every request is ejected, let back in after its ejection time (and
    ejected again while it still fails), users see no error, and it serves again after.

    30 s, not 20: the second ejection lasts 2 x baseEjectionTime, and the replica must be
    back before the run ends."""
    result = run(harness, "outlier-ejection", tmp_path, state_dir, duration="30s")
    assert result.phase("during:catalog-1-down")["values"]["ejections"] >= 2
    after = result.phase("after")
    served = counter_increase(
        result.table("metrics"),
        "istio_requests_total",
        {"reporter": "destination", "instance": "catalog-1", "response_code": "200"},
        after["start_s"] + SETTLE_S,
        after["end_s"],
    )
    assert served > 0, "catalog-1 was not let back in after the fault"


def test_circuit_breaker(harness: Harness, tmp_path: Path, state_dir: Path) -> None:
    """A slow backend behind a tight pool: overflow is shed fast with 503, none once it is fast."""
    result = run(harness, "circuit-breaker", tmp_path, state_dir)
    during = result.phase("during:slow-catalog")
    assert during["values"]["overflows"] >= 1
    requests = result.table("requests")
    in_fault = requests[requests["intended_s"].between(during["start_s"], during["end_s"])]
    shed = in_fault[in_fault["status"] == 503]["latency_ms"]
    served = in_fault[in_fault["status"] == 200]["latency_ms"]
    assert len(shed) > 0, "no shed request reached the user"
    assert shed.quantile(0.99) < 500 < served.quantile(0.5), "shed requests waited for the backend"


def test_control_plane_outage(harness: Harness, tmp_path: Path, state_dir: Path) -> None:
    """No error while the control plane is down; a change to catalog pushed after it
    reaches the sidecars whose scope holds catalog (its own and its caller frontend's:
    each sidecar gets only its service and the ones it calls)."""
    result = run(harness, "control-plane-outage", tmp_path, state_dir)
    outage = result.fault("control-plane-down")
    push = result.fault("push-after-outage")
    assert outage["end_s"] is not None and push["start_s"] > outage["end_s"]
    assert result.phase("during:control-plane-down")["values"]["error_rate"] == 0.0
    versions = result.table("metrics")
    versions = versions[versions["metric"] == "meshproof_config_version"]
    services = versions["labels"].map(lambda text: json.loads(str(text)).get("service"))
    assert {"catalog", "frontend", "gateway"} <= set(services), set(services)
    versions = versions[services.isin({"catalog", "frontend"})]
    before = versions[versions["t_s"] < outage["start_s"]]["value"].max()
    after = versions[versions["t_s"] > push["start_s"] + SETTLE_S]["value"].min()
    assert after > before, "the change made after the outage did not reach catalog's sidecars"


def test_trace_completeness(harness: Harness, tmp_path: Path, state_dir: Path) -> None:
    """Complete traces at steady state, and the drop measured while cart drops the context."""
    result = run(harness, "trace-completeness", tmp_path, state_dir)
    before = result.phase("before")["values"]["trace_completeness"]
    during = result.phase("during:cart-drops-context")["values"]["trace_completeness"]
    after = result.phase("after")["values"]["trace_completeness"]
    assert before >= 0.98 and after >= 0.999
    assert during is not None and during < 0.05
    assert len(result.table("spans")) > 0


def test_canary_shift(harness: Harness, tmp_path: Path, state_dir: Path) -> None:
    """Catalog traffic moves from v1 to v2 step by step with no user error."""
    result = run(harness, "canary-shift", tmp_path, state_dir)
    metrics = result.table("metrics")

    def served(version: str, phase: str) -> float:
        summary = result.phase(phase)
        labels = {
            "reporter": "destination",
            "destination_service": "catalog",
            "destination_version": version,
        }
        start, end = summary["start_s"] + SETTLE_S, summary["end_s"]
        return counter_increase(metrics, "istio_requests_total", labels, start, end)

    assert served("v2", "during:v2-0") == 0 and served("v1", "during:v2-0") > 0
    assert served("v2", "during:v2-50") > 0 and served("v1", "during:v2-50") > 0
    assert served("v1", "during:v2-100") == 0 and served("v2", "during:v2-100") > 0
    for step in ("v2-0", "v2-10", "v2-50", "v2-100"):
        assert result.phase(f"during:{step}")["values"]["error_rate"] == 0.0


def test_rolling_sidecar_restart(harness: Harness, tmp_path: Path, state_dir: Path) -> None:
    """Every sidecar restarted under load (a new pid each) and not one request failed.

    35 s, not 20: the restarts, one service every 8 s of the file, must all finish before
    the load ends (a rolling restart still going then is cut short)."""
    result = run(harness, "rolling-sidecar-restart", tmp_path, state_dir, duration="35s")
    requests = result.table("requests")
    measured = requests[requests["phase"] != "warmup"]
    assert (
        len(measured) > 0
        and int(((measured["status"] == 0) | (measured["status"] >= 500)).sum()) == 0
    )
    resources = result.table("resources")
    sidecars = resources[resources["role"] == "sidecar"]
    pids = sidecars.groupby("name")["pid"].nunique()
    assert len(pids) > 0 and (pids >= 2).all(), (
        f"sidecars not restarted: {pids[pids < 2].to_dict()}"
    )


def test_mesh_overhead(harness: Harness, tmp_path: Path, state_dir: Path) -> None:
    """The interleaved comparison: a no-mesh deployment beside the mesh, ten load blocks back
    to back (ABBA, five rounds), every block's worker took its share and kept it, overhead measured."""
    result = run(harness, "mesh-overhead", tmp_path, state_dir, duration="12s")
    compare = result.phase("compare:no-mesh")["values"]
    assert compare["rounds"] == ROUNDS
    assert compare["overhead_p99_ms"] is not None and compare["error_rate"] == 0.0
    blocks = sorted((result.path / "load-no-mesh").iterdir())
    assert [b.name for b in blocks] == [
        f"r{r}-{m}" for r in range(ROUNDS) for m in ("mesh", "no-mesh")
    ]
    for block in blocks:
        status = json.loads((block / "load-status-w0.json").read_text())
        assert status["done"] and status["unsent"] == 0, f"{block}: {status}"
    table = result.table("compare_no-mesh")
    assert set(table.groupby(["round", "mode"]).size().index) == {
        (r, m) for r in range(ROUNDS) for m in ("mesh", "no-mesh")
    }


def test_tcp_partition(harness: Harness, tmp_path: Path, state_dir: Path) -> None:
    """A kv replica cut off from the gateway (raw TCP): its connect failures eject it, the
    load's TCP records name why the few failures failed, nothing fails after the cut."""
    result = run(harness, "tcp-partition", tmp_path, state_dir, duration="12s")
    requests = result.table("requests")
    tcp = requests[requests["method"] == "TCP"]
    assert (tcp["status"] == 200).sum() > 0, "no TCP exchange succeeded"
    failed = tcp[tcp["status"] != 200]
    assert set(failed["error"]) <= {"reset", "closed-early"}, failed["error"].value_counts()
    assert result.phase("during:kv-1-cut")["values"]["ejections"] >= 1
