"""`target.compare_to`: the same load on the mesh and on a second deployment, interleaved.

(Not `harness.compare`, which judges a baseline's recorded runs against a candidate's: this
is one run measuring its mesh against the other mode, block by block.)

After the run's own timeline, a second deployment in the other mode (`no-mesh`) is
brought up beside the first (its own state root, `<state root>/compare-<mode>`, so both
are up at once on different ports). Then `ROUNDS` rounds each drive one block of the same
load against each deployment in turn, the order alternating (ABBA: other, mesh, mesh,
other, ...) so that a drift in the machine's load (other processes, a warming cache)
falls on both sides alike. Each block has its own short warm-up, not measured. One Locust
master and its workers drive every block (`LoadDriver.series`), Locust's own stop and
start between blocks: a block no longer waits for Locust processes to start.

`overhead_rounds(frame)` turns the blocks' requests into the overhead: each round's p99 of
the mesh block minus the p99 of the other mode's block, and the median of those
differences as the overhead (one round disturbed by other work on the machine moves the
median little, where it would dominate a p99 pooled over all blocks; the pooled difference
is reported beside it, and the rounds' spread says how far the number can be trusted).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.analysis import read_requests
from harness.analysis.stats import percentile
from harness.load import LoadDriver
from harness.spec.load import LoadSpec
from mesh_runtime.runtimes import Deployment, Runtime
from mesh_runtime.runtimes.deployment import state_root as default_state_root
from mesh_runtime.topology import MeshMode

ROUNDS = 5
"""Rounds of (other, mesh) blocks; the run's `load.duration` is split among them."""
BLOCK_WARMUP_S = 2.0
MIN_BLOCK_S = 3.0
DRAIN_S = 5.0


def block_load(load: LoadSpec, rounds: int = ROUNDS) -> LoadSpec:
    """The load of one block: the same rate, connections and routes, a share of the time."""
    share = max(load.measured_duration / rounds, MIN_BLOCK_S)
    return load.model_copy(update={"duration": share, "warmup": BLOCK_WARMUP_S, "stages": []})


def block_order(rounds: int, mode: str, other: str) -> list[tuple[int, str]]:
    """(round, mode) in the order the blocks run: ABBA, so drift falls on both sides."""
    order: list[tuple[int, str]] = []
    for index in range(rounds):
        pair = (other, mode) if index % 2 == 0 else (mode, other)
        order.extend((index, m) for m in pair)
    return order


def interleaved_state_root(state_root: Path | None, other: str) -> Path:
    """Where the second deployment's state lives (beside, not inside, the run's)."""
    root = state_root if state_root is not None else default_state_root()
    return root / f"compare-{other}"


@dataclass(frozen=True)
class Block:
    round: int
    mode: str
    url: str


def run_blocks(
    blocks: list[Block], load: LoadSpec, work_dir: Path, stage: Callable[[str], None]
) -> pd.DataFrame:
    """Drive `load` against each block's URL in turn; requests with `round` and `mode`.

    One Locust master and its workers run every block (`LoadDriver.series`: Locust's stop
    and start between blocks), each block with its own t0, warm-up and files; the records
    are read once the last block is done, so no block shares the machine with that."""
    paths = [(b.url, work_dir / f"r{b.round}-{b.mode}") for b in blocks]
    drivers = LoadDriver.series(load, paths) if blocks else []
    try:
        for block, driver in zip(blocks, drivers, strict=True):
            stage(f"round {block.round + 1}/{ROUNDS}: {block.mode}")
            driver.start()
            driver.wait(load.total_duration + load.timeout + DRAIN_S)
    finally:
        for driver in drivers:
            driver.stop()
    frames = [
        read_requests(driver.records_files()).assign(round=block.round, mode=block.mode)
        for block, driver in zip(blocks, drivers, strict=True)
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


class InterleavedBlocks:
    """The second deployment and the interleaved blocks (see the module docstring)."""

    def __init__(self, runtime: Runtime, topology_path: Path, other: str) -> None:
        self.runtime = runtime
        self.topology_path = topology_path
        self.other = other
        self.deployment: Deployment | None = None

    def deploy(self, sidecar_command: Sequence[str] | None = None) -> Deployment:
        mode: MeshMode = "no-mesh" if self.other == "no-mesh" else "mesh"
        self.deployment = self.runtime.up(
            self.topology_path, mode=mode, sidecar_command=sidecar_command
        )
        return self.deployment

    def run(
        self,
        mesh_url: str,
        mode: str,
        load: LoadSpec,
        work_dir: Path,
        stage: Callable[[str], None],
    ) -> pd.DataFrame:
        if self.deployment is None:
            raise RuntimeError("deploy() first")
        urls = {mode: mesh_url, self.other: self.deployment.ingress_url}
        blocks = [Block(r, m, urls[m]) for r, m in block_order(ROUNDS, mode, self.other)]
        return run_blocks(blocks, block_load(load), work_dir, stage)

    def teardown(self) -> None:
        if self.deployment is not None:
            self.runtime.down(self.deployment)
            self.deployment = None


def overhead_rounds(frame: pd.DataFrame, mode: str, other: str) -> dict[str, float | None]:
    """Median of the rounds' p99 differences (mode minus other), the pooled one, the spread."""
    measured = frame[frame["intended_s"] >= BLOCK_WARMUP_S]
    values: dict[str, float | None] = {"rounds": float(measured["round"].nunique())}
    own = percentile(measured.loc[measured["mode"] == mode, "latency_ms"], 0.99)
    base = percentile(measured.loc[measured["mode"] == other, "latency_ms"], 0.99)
    values["mesh_p99_ms"] = own
    values["p99_ms"] = base
    values["overhead_p99_ms_pooled"] = None if own is None or base is None else own - base
    diffs = []
    for _, blocks in measured.groupby("round"):
        a = percentile(blocks.loc[blocks["mode"] == mode, "latency_ms"], 0.99)
        b = percentile(blocks.loc[blocks["mode"] == other, "latency_ms"], 0.99)
        if a is not None and b is not None:
            diffs.append(a - b)
    values["overhead_p99_ms"] = float(statistics.median(diffs)) if diffs else None
    values["overhead_p99_ms_min"] = min(diffs) if diffs else None
    values["overhead_p99_ms_max"] = max(diffs) if diffs else None
    return values
