"""The disturbance probe process: `python -m harness.observe.probe`.

    --out F --t0 T|- --parent PID [--pids-file P] [--interval-ms 5]

A small process of its own (a thread of the orchestrator would measure the orchestrator's
GIL, not the host): it sleeps `--interval-ms` in a loop and records how late each wake-up
is; at each whole second since `t0` it appends one row (`harness.observe.disturbance`) to
F as a JSON line and flushes it. The CPU of the harness's own processes is read with
psutil: the orchestrator (`--parent`), the probe itself, and the pids listed in
`--pids-file` (JSON `{"pids": [...]}`, re-read when it changes; the engine writes the
Locust processes there once they run).

It stops on SIGTERM or SIGINT, when its parent is gone, and never outlives the run.
F is created once the first readings are taken: its existence is the probe's readiness.
With `--t0 -` the probe starts armed: F exists at once, and t0 comes as one line on
standard input (the orchestrator starts the probe before the load picks t0, so the
probe's start-up is paid before the run's first second); at end of input without a t0
it exits 0 with no row.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import IO

import psutil

from harness.observe.disturbance import (
    CpuTimes,
    cpu_shares,
    parse_loadavg,
    parse_proc_stat,
    probe_row,
    summarise_lags,
)
from harness.observe.resources import SHORTEST_ROW_S, Reading, usage

DEFAULT_INTERVAL_MS = 5.0
"""200 wake-ups a second (p99 is the second latest): about 1 % of a core on a busy 2-core
host; 2 ms cost 1.4-1.8 % there (DEVELOPING.md, "The disturbance probe")."""
PROC_STAT = Path("/proc/stat")
PROC_LOADAVG = Path("/proc/loadavg")


class HarnessCpu:
    """CPU cores used by a changing set of processes, per call (psutil)."""

    def __init__(self, pids: Sequence[int]) -> None:
        self._last: dict[int, Reading] = {}
        self._handles: dict[int, psutil.Process] = {}
        self._at: float | None = None
        self.pids = list(dict.fromkeys(pids))

    def cores(self) -> tuple[float | None, dict[int, float]]:
        """Total cores since the last call, and each pid's (a new pid: since its start).
        Too soon after the last call (the part of a second a stopped probe writes) to
        tell cores from CPU-clock ticks: None and nothing, and the next call covers it."""
        now = time.monotonic()
        if self._at is not None and now - self._at < SHORTEST_ROW_S:
            return None, {}
        self._at = now
        total, each = 0.0, {}
        for pid in self.pids:
            current = self._read(pid)
            if current is None:
                continue
            _, cores = usage(self._last.get(pid), current)
            self._last[pid] = current
            each[pid] = cores
            total += cores
        return total, each

    def _read(self, pid: int) -> Reading | None:
        try:
            handle = self._handles.get(pid) or psutil.Process(pid)
            self._handles[pid] = handle
            times = handle.cpu_times()
            return Reading(pid, handle.create_time(), times.user + times.system, 0, time.time())
        except psutil.Error:
            self._handles.pop(pid, None)
            return None


class PidsFile:
    """The extra harness pids, re-read when the file's modification time changes."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._mtime: float | None = None
        self.pids: list[int] = []

    def changed(self) -> bool:
        if self._path is None:
            return False
        try:
            mtime = self._path.stat().st_mtime
        except OSError:
            return False
        if mtime == self._mtime:
            return False
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            self.pids = [int(p) for p in data.get("pids", [])]
        except (OSError, ValueError, TypeError, AttributeError):
            return False
        self._mtime = mtime
        return True


class Probe:
    """The loop: sleep, measure lateness, write a row at each whole second."""

    def __init__(self, args: argparse.Namespace, out: IO[str]) -> None:
        self._t0: float = args.t0
        self._interval = args.interval_ms / 1000.0
        self._parent: int = args.parent
        self._out = out
        self._pids_file = PidsFile(args.pids_file)
        self._own = [self._parent, os.getpid()]
        self._cpu = HarnessCpu(self._own)
        self._stat: CpuTimes | None = _read_stat()
        self._cpu.cores()  # prime: the first row counts from here
        self.stopping = False

    def run(self) -> None:
        interval, clock, sleep = self._interval, time.perf_counter, time.sleep
        second, boundary = self._second_now()
        lags: list[float] = []
        append = lags.append
        while not self.stopping:  # kept small: this loop is the probe's whole cost
            before = clock()
            sleep(interval)
            after = clock()
            append(after - before - interval)
            if after >= boundary:
                self._emit(second, lags)
                (second, boundary), lags = self._second_now(), []
                append = lags.append
                if os.getppid() != self._parent:
                    break
        if lags:
            self._emit(second, lags)

    def _second_now(self) -> tuple[int, float]:
        """The current second since t0, and when the next one begins (perf_counter)."""
        since_t0 = time.time() - self._t0
        second = math.floor(since_t0)
        return second, time.perf_counter() + (second + 1 - since_t0)

    def _emit(self, second: int, lags: list[float]) -> None:
        if self._pids_file.changed():
            self._cpu.pids = list(dict.fromkeys(self._own + self._pids_file.pids))
        harness, each = self._cpu.cores()
        shares = None  # a moment after the last row (a stopping probe): no CPU measures
        if harness is not None:
            stat = _read_stat()
            shares = cpu_shares(self._stat, stat) if self._stat and stat else None
            self._stat = stat
        row = probe_row(
            second,
            summarise_lags([lag * 1000.0 for lag in lags]),
            shares,
            _read_load1(),
            harness,
            each.get(os.getpid()),
        )
        self._out.write(json.dumps(row) + "\n")
        self._out.flush()

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True


def _read_stat() -> CpuTimes | None:
    try:
        return parse_proc_stat(PROC_STAT.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None


def _read_load1() -> float | None:
    try:
        return parse_loadavg(PROC_LOADAVG.read_text(encoding="ascii"))
    except (OSError, ValueError, IndexError):
        return None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.observe.probe")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--t0",
        type=_t0_arg,
        required=True,
        help="wall-clock start of the run, or - to read it from standard input",
    )
    parser.add_argument("--parent", type=int, required=True, help="the orchestrator's pid")
    parser.add_argument("--pids-file", type=Path, default=None)
    parser.add_argument("--interval-ms", type=float, default=DEFAULT_INTERVAL_MS)
    args = parser.parse_args(argv)
    if not 0.1 <= args.interval_ms <= 100:
        parser.error("--interval-ms: expected 0.1 to 100")
    return args


def _t0_arg(text: str) -> float | None:
    return None if text == "-" else float(text)


def read_t0(stream: IO[str]) -> float | None:
    """t0 from one line of `stream`; None at end of input (the orchestrator gave up)."""
    line = stream.readline().strip()
    return float(line) if line else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = args.out.with_name(args.out.name + ".tmp")
    try:
        out = tmp.open("w", encoding="utf-8")
    except OSError as exc:
        print(f"{args.out}: cannot write: {exc}", file=sys.stderr)
        return 2
    armed = args.t0 is None  # ready now, t0 later
    with out:
        if armed:
            os.replace(tmp, args.out)
            try:
                args.t0 = read_t0(sys.stdin)
            except ValueError as exc:
                print(f"t0 on standard input: {exc}", file=sys.stderr)
                return 2
            if args.t0 is None:
                return 0
        probe = Probe(args, out)
        signal.signal(signal.SIGTERM, probe.stop)
        signal.signal(signal.SIGINT, probe.stop)
        if not armed:
            os.replace(tmp, args.out)  # ready: the readings are primed
        probe.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
