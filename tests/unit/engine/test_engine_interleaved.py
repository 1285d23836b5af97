"""The interleaved comparison's pure parts: block order, block load, overhead and spread."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.engine.analyse import interleaved_summary
from harness.engine.interleaved import (
    BLOCK_WARMUP_S,
    block_load,
    block_order,
    interleaved_state_root,
    overhead_rounds,
)
from harness.spec.load import LoadSpec, Stage


def test_blocks_alternate_abba() -> None:
    """Rounds alternate which mode goes first, so a drift falls on both sides alike."""
    order = block_order(3, "mesh", "no-mesh")
    assert order == [
        (0, "no-mesh"),
        (0, "mesh"),
        (1, "mesh"),
        (1, "no-mesh"),
        (2, "no-mesh"),
        (2, "mesh"),
    ]


def test_block_load_splits_the_measured_time() -> None:
    """A block keeps rate and connections, gets a share of the duration and a short warm-up."""
    load = LoadSpec(rps=80, duration=30, warmup=5, connections=8)
    block = block_load(load, rounds=3)
    assert (block.rps, block.connections, block.duration) == (80, 8, 10)
    assert block.warmup == BLOCK_WARMUP_S
    staged = LoadSpec(rps=50, stages=[Stage(duration=12, rps=100)])
    assert block_load(staged, rounds=3).stages == []
    assert block_load(staged, rounds=3).duration == 4


def test_interleaved_state_root_is_beside_the_runs() -> None:
    """The second deployment's state is its own folder under the run's state root."""
    assert interleaved_state_root(Path("/s"), "no-mesh") == Path("/s/compare-no-mesh")


def _blocks(latency: dict[tuple[int, str], float], n: int = 200) -> pd.DataFrame:
    rows = []
    for (round_, mode), ms in latency.items():
        for i in range(n):
            intended = BLOCK_WARMUP_S + i * 0.01
            rows.append(
                {
                    "intended_s": intended,
                    "latency_ms": ms,
                    "status": 200,
                    "round": round_,
                    "mode": mode,
                }
            )
        rows.append(  # warm-up requests are not measured
            {
                "intended_s": 0.5,
                "latency_ms": 10_000.0,
                "status": 200,
                "round": round_,
                "mode": mode,
            }
        )
    return pd.DataFrame(rows)


def test_overhead_is_the_median_round_difference_with_pooled_and_spread() -> None:
    """Overhead is the median of the rounds' p99 differences; pooled, min and max beside it."""
    frame = _blocks(
        {(0, "mesh"): 12.0, (0, "no-mesh"): 5.0, (1, "mesh"): 15.0, (1, "no-mesh"): 6.0}
    )
    values = overhead_rounds(frame, "mesh", "no-mesh")
    assert values["rounds"] == 2
    assert values["mesh_p99_ms"] == 15.0 and values["p99_ms"] == 6.0
    assert values["overhead_p99_ms"] == 8.0
    assert values["overhead_p99_ms_pooled"] == 9.0
    assert (values["overhead_p99_ms_min"], values["overhead_p99_ms_max"]) == (7.0, 9.0)


def test_one_disturbed_round_barely_moves_the_overhead() -> None:
    """A round slowed by other work (mesh p99 500 ms) sets the pooled number, not the median."""
    latencies = {(r, "no-mesh"): 5.0 for r in range(5)}
    latencies.update({(r, "mesh"): 25.0 for r in range(5)})
    latencies[(2, "mesh")] = 500.0
    values = overhead_rounds(_blocks(latencies), "mesh", "no-mesh")
    assert values["overhead_p99_ms"] == 20.0
    assert values["overhead_p99_ms_pooled"] == 495.0
    assert values["overhead_p99_ms_max"] == 495.0


def test_overhead_without_one_side_is_unmeasured() -> None:
    """A mode that answered nothing gives no overhead, never a made-up number."""
    frame = _blocks({(0, "mesh"): 12.0})
    values = overhead_rounds(frame, "mesh", "no-mesh")
    assert values["overhead_p99_ms"] is None and values["overhead_p99_ms_min"] is None


def test_interleaved_summary_counts_the_other_modes_failures() -> None:
    """The compare:<mode> summary holds the other mode's requests, error rate and overhead."""
    frame = _blocks({(0, "mesh"): 12.0, (0, "no-mesh"): 5.0}, n=100)
    frame.loc[(frame["mode"] == "no-mesh") & (frame["intended_s"] > 2.5), "status"] = 503
    summary = interleaved_summary(frame, "mesh", "no-mesh")
    assert summary.phase == "compare:no-mesh"
    assert summary.values["requests"] == 100
    assert summary.values["error_rate"] == 0.49
    assert summary.values["overhead_p99_ms"] == 7.0
