"""Connections the load leaves on its target after a transient backlog.

    python -m harness.bench.backlog [--baseline REV] [--rounds 2] [--rps 200]
                                    [--seconds 60] [--stall-s 3] [--connections 16]

A target on 127.0.0.1 (an HTTP/1.1 keep-alive server in a thread of this process; it
answers at once, or while stalled when the stall ends, and counts the connections it
holds) takes `--rps` from one Locust worker starting with `--connections`. Five seconds in
it stalls for `--stall-s`: the worker opens connections so that requests keep leaving on
time (hundreds). Then it is fast again for the rest of the run. Reported per run: the most
connections the target held, how many it held 10 s before the schedule's end (the shop
soak's gateway sidecar held 1 464 at minute 59.5 after an overloaded start) and when it
held no more than `--connections` + 1 again, the requests sent late (more than 10 ms) after the stall, failed requests and the load
average. With `--baseline REV` the Locust processes of revision REV and of this tree take
turns (A B, B A, ...), each at the defaults of its own tree (`load.idle_timeout`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from harness.bench.pairs import revision_tree, round_order
from harness.errors import RunError
from harness.load import LoadDriver, iter_worker_records
from harness.spec.load import LATE_BOUND_MS, LoadSpec

STALL_AT_S = 5.0
HELD_BEFORE_END_S = 10.0
"""When the target's connections are counted: before the end, as a pool of P connections at
R RPS claims the schedule's last request P / R seconds before it and then closes them."""
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class StallingTarget:
    """An HTTP/1.1 server for GET requests on an ephemeral port of 127.0.0.1, run by an
    event loop in a thread; `held` connections open now, `peak` the most at once."""

    def __init__(self) -> None:
        self.held = 0
        self.peak = 0
        self._stall_until = 0.0  # time.monotonic(), the event loop's clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=4096)
        )
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        self._thread.start()

    def stall(self, seconds: float) -> None:
        """Hold every answer until `seconds` from now."""
        self._stall_until = time.monotonic() + seconds

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.held += 1
        self.peak = max(self.peak, self.held)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")  # the load's GETs carry no body
                if (wait := self._stall_until - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            self.held -= 1
            writer.close()


def backlog_run(
    rps: float, seconds: float, stall_s: float, connections: int, work: Path, source: Path | None
) -> dict[str, Any]:
    """One run against a fresh target: its connections at the end, the late and failed."""
    spec = LoadSpec(rps=rps, duration=seconds, warmup=0, connections=connections, timeout=10)
    target = StallingTarget()
    try:
        driver = LoadDriver(spec, target.url, work, source=source)
        try:
            driver.start()
            time.sleep(max(0.0, driver.t0 + STALL_AT_S - time.time()))  # a point in the schedule
            target.stall(stall_s)
            back_at_s = _back_at(target, driver.t0, seconds - HELD_BEFORE_END_S, connections + 1)
            held_at_end = target.held
            driver.wait(seconds + 30)
            live = driver.live()
        finally:
            driver.stop()
    finally:
        target.close()
    rows = [r for path in driver.records_files() for r in iter_worker_records(path)]
    after = [r for r in rows if r["intended_s"] >= STALL_AT_S + stall_s + 1.0]
    return {
        "held_peak": target.peak,
        "held_10s_before_end": held_at_end,
        "back_at_s": back_at_s,
        "peak_connections": live.peak_connections,
        "requests": len(rows),
        "failed": sum(1 for r in rows if r["status"] != 200),
        "late_after_stall": sum(
            1 for r in after if (r["sent_s"] - r["intended_s"]) * 1000 > LATE_BOUND_MS
        ),
        "requests_after_stall": len(after),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _back_at(target: StallingTarget, t0: float, until_s: float, near_base: int) -> float | None:
    """Wait until `t0 + until_s`, looking at the target's connections every 0.1 s; the first
    second (since t0) at which it held no more than `near_base` again after it had held
    more (None: not before then)."""
    grown, back = False, None
    while (now := time.time()) < t0 + until_s:
        grown = grown or target.held > near_base
        if grown and back is None and target.held <= near_base:
            back = round(now - t0, 1)
        time.sleep(0.1)
    return back


def run_backlog_ab(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Each round: REV's driver and this tree's (order alternating), one run each."""
    with tempfile.TemporaryDirectory(prefix="meshproof-bench-backlog-") as tmp:
        work = Path(tmp)
        sides: dict[str, Path | None] = {"now": None}
        if args.baseline is not None:
            base = revision_tree(args.baseline, work, ("harness", "mesh_runtime"))
            sides = {"base": base, "now": None}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
        for number in range(1, args.rounds + 1):
            for name in round_order(list(sides), number):
                run = backlog_run(
                    args.rps,
                    args.seconds,
                    args.stall_s,
                    args.connections,
                    work / f"{name}-{number}",
                    sides[name],
                )
                runs[name].append(run)
                print(f"  round {number}/{args.rounds} {name:4} {_line(run)}", flush=True)
    return runs


def _line(run: dict[str, Any]) -> str:
    return (
        f"target held {run['held_peak']:5d} at most, {run['held_10s_before_end']:5d} 10 s"
        f" before the end (back near the base at {run['back_at_s']} s); late after the stall {run['late_after_stall']:4d} of"
        f" {run['requests_after_stall']}; failed {run['failed']}; load {run['load_average_1m']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.backlog", description=__doc__)
    parser.add_argument("--baseline", metavar="REV", help="git revision REV's driver beside this")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="the schedule's length")
    parser.add_argument("--stall-s", type=float, default=3.0, help="how long the target stalls")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    try:
        runs = run_backlog_ab(args)
    except RunError as exc:
        print(f"backlog benchmark: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
