"""The load driver's benchmark: rate per Locust worker, and the orchestrator's memory.

    python -m harness.bench.load [--step-s 5] [--memory-s 60] [--memory-rps 2000]
    python -m harness.bench.load --baseline REV [--ab-rps 6000] [--rounds 3] [--step-s 5]

1. Throughput: one Locust worker against a trivial target (fortio's echo server, Go, on
   127.0.0.1) at rising target rates, stepped up until the worker falls behind (the first
   rate it does not sustain ends the steps). A rate is *sustained* when at least 97 % of
   it is achieved and the median send lag stays under 5 ms, and no more requests are left
   unsent at the end than 5 ms of the rate (what a worker that keeps within that lag still
   has due when the run stops: 50 at 10 000 RPS). Every
   request's latency is recorded both from its send and from its intended send (corrected
   for coordinated omission); both p99s are shown. Besides the rate, the requests per
   CPU-second of the worker process are reported: on a busy machine the worker gets less
   than a core, and that figure says what one core does. So is what limited it: the CPU
   of the worker, of fortio (both must fit on this 2-core host) and how long the worker
   waited on a run queue (it wanted a CPU the host did not give it: Linux's schedstat),
   and the most connections it opened. Target: 15 000 RPS sustained.
2. Memory: the RSS of this process (the orchestrator's side of the driver) sampled each
   second over a long run at a high rate, records streaming to disk. Flat means the driver
   holds nothing per request.
3. With `--baseline REV`, instead of both: a before / after of a change to the driver.
   The Locust processes of git revision REV and of this tree take turns, round by round,
   at one fixed rate (`throughput_step` at `--ab-rps`) against one fortio target, so that
   drift of a shared machine hits both alike; per side the median requests per worker
   CPU-second and achieved rate, each round's load average printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from harness.bench.curves import CurveColumn, curve_lines
from harness.bench.pairs import revision_tree
from harness.bench.procs import fortio_process
from harness.errors import RunError
from harness.load import LoadDriver, iter_worker_records
from harness.spec.load import LoadSpec

RATES = (2000, 4000, 6000, 8000, 10000, 12500, 15000, 17500, 20000, 25000, 30000)
CONNECTIONS = 32
TARGET_RPS = 15000.0
MAX_SEND_LAG_MS = 5.0
STEP_COLUMNS = (
    CurveColumn("target_rps", "target RPS", "{:g}"),
    CurveColumn("achieved_rps", "achieved RPS", "{:.0f}"),
    CurveColumn("unsent", "unsent"),
    CurveColumn("send_lag_p50_ms", "lag p50 ms", "{:.2f}"),
    CurveColumn("latency_p99_ms", "p99 ms", "{:.2f}"),
    CurveColumn("corrected_p99_ms", "corrected p99 ms", "{:.2f}"),
    CurveColumn("worker_cpu_s", "worker CPU s", "{:.1f}"),
    CurveColumn("worker_wait_s", "worker waited s", "{:.1f}"),
    CurveColumn("target_cpu_s", "fortio CPU s", "{:.1f}"),
    CurveColumn("peak_connections", "peak conns"),
    CurveColumn("rps_per_worker_cpu_s", "RPS per CPU s", "{:.0f}"),
    CurveColumn("load_average_1m", "load 1m", "{:.2f}"),
    CurveColumn("sustained", "sustained"),
)


def steps_until_behind(
    rates: Sequence[float], step: Callable[[float], dict[str, Any]]
) -> list[dict[str, Any]]:
    """`step(rate)` for each rate in order, up to and including the first one not sustained."""
    steps = []
    for rate in rates:
        steps.append(step(rate))
        if not steps[-1]["sustained"]:
            break
    return steps


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def run_queue_wait_s(pid: int) -> float | None:
    """Seconds the main thread of process `pid` has waited on a run queue (runnable, but
    the host gave it no CPU): Linux's /proc/<pid>/schedstat; None where it cannot be read."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def throughput_step(
    url: str,
    rps: float,
    seconds: float,
    work_dir: Path,
    source: Path | None = None,
    target_pid: int | None = None,
) -> dict[str, Any]:
    """One worker at `rps` for `seconds`: achieved rate, lag, latency, the CPU of the worker,
    the master and the target (process `target_pid`), and how long the worker waited for a
    CPU it wanted. `source`: the tree its Locust processes run (None: this one)."""
    spec = LoadSpec(rps=rps, duration=seconds, warmup=0, connections=CONNECTIONS, timeout=5)
    driver = LoadDriver(spec, url, work_dir, source=source)
    try:
        driver.start()
        master, worker = (psutil.Process(pid) for pid in driver.pids()[:2])
        watched = {"worker": worker, "master": master}
        if target_pid is not None:
            watched["target"] = psutil.Process(target_pid)
        before = {name: _cpu_s(process) for name, process in watched.items()}
        waited_before = run_queue_wait_s(worker.pid)
        driver.wait(seconds + 30)
        cpu = {name: _cpu_s(process) - before[name] for name, process in watched.items()}
        waited_after = run_queue_wait_s(worker.pid)
        live = driver.live()
        unsent = live.unsent
    finally:
        driver.stop()
    waited = None
    if waited_before is not None and waited_after is not None:
        waited = round(waited_after - waited_before, 2)
    cpu_s = cpu["worker"]
    rows = [r for path in driver.records_files() for r in iter_worker_records(path)]
    ok = [r for r in rows if r["status"] == 200]
    lag = [(r["sent_s"] - r["intended_s"]) * 1000 for r in rows]
    latency = [r["latency_ms"] for r in ok]
    corrected = [r["corrected_ms"] for r in ok]
    achieved = len(ok) / seconds
    return {
        "target_rps": rps,
        "achieved_rps": round(achieved, 1),
        "errors": len(rows) - len(ok),
        "unsent": unsent,
        "send_lag_p50_ms": round(_percentile(lag, 50), 3),
        "send_lag_p99_ms": round(_percentile(lag, 99), 3),
        "latency_p50_ms": round(_percentile(latency, 50), 3),
        "latency_p99_ms": round(_percentile(latency, 99), 3),
        "corrected_p99_ms": round(_percentile(corrected, 99), 3),
        "worker_cpu_s": round(cpu_s, 2),
        "worker_wait_s": waited,
        "master_cpu_s": round(cpu["master"], 2),
        "target_cpu_s": round(cpu["target"], 2) if "target" in cpu else None,
        "peak_connections": live.peak_connections,
        "rps_per_worker_cpu_s": round(len(rows) / cpu_s, 1) if cpu_s > 0 else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "sustained": sustained(rps, achieved, unsent, _percentile(lag, 50)),
    }


def sustained(rps: float, achieved: float, unsent: int, send_lag_p50_ms: float) -> bool:
    """Did one worker keep up with `rps`: 97 % of it answered, the median request sent
    within MAX_SEND_LAG_MS of its intended time, and no more left unsent when the run
    stopped than that lag's worth of the rate (the requests still due at the last instant)."""
    due_at_the_end = rps * MAX_SEND_LAG_MS / 1000
    return achieved >= 0.97 * rps and unsent <= due_at_the_end and send_lag_p50_ms < MAX_SEND_LAG_MS


def memory_run(url: str, rps: float, seconds: float, work_dir: Path) -> dict[str, Any]:
    """RSS of this process each second while the driver streams `rps` for `seconds`."""
    me = psutil.Process()
    spec = LoadSpec(rps=rps, duration=seconds, warmup=0, connections=CONNECTIONS, timeout=5)
    driver = LoadDriver(spec, url, work_dir)
    samples: list[float] = []
    try:
        driver.start()
        while not driver.wait(1.0):
            driver.live()  # as a progress display would
            samples.append(me.memory_info().rss / 2**20)
        samples.append(me.memory_info().rss / 2**20)
    finally:
        driver.stop()
    requests = sum(1 for path in driver.records_files() for _ in path.open("rb"))
    quarter = max(1, len(samples) // 4)
    return {
        "duration_s": seconds,
        "target_rps": rps,
        "requests": requests,
        "records_mb": round(sum(p.stat().st_size for p in driver.records_files()) / 2**20, 1),
        "rss_mb_first": round(samples[0], 1),
        "rss_mb_max": round(max(samples), 1),
        "rss_mb_last": round(samples[-1], 1),
        "rss_growth_mb_last_vs_first_quarter": round(
            sum(samples[-quarter:]) / quarter - sum(samples[:quarter]) / quarter, 2
        ),
    }


def run_load_bench(
    step_s: float = 5.0, memory_s: float = 60.0, memory_rps: float = 2000.0
) -> dict[str, Any]:
    """Both measurements against one fortio target; a JSON-ready dict."""
    with (
        tempfile.TemporaryDirectory(prefix="meshproof-bench-load-") as tmp,
        fortio_process() as (url, target),
    ):
        steps = steps_until_behind(
            RATES,
            lambda r: throughput_step(url, r, step_s, Path(tmp) / f"rate-{r}", None, target.pid),
        )
        sustained = [s["achieved_rps"] for s in steps if s["sustained"]]
        memory = memory_run(url, memory_rps, memory_s, Path(tmp) / "memory")
    return {
        "target": "fortio echo server on 127.0.0.1",
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "connections": CONNECTIONS,
        "steps": steps,
        "max_sustained_rps_per_worker": max(sustained, default=0.0),
        "best_achieved_rps_per_worker": max(s["achieved_rps"] for s in steps),
        "best_rps_per_worker_cpu_s": max(
            (s["rps_per_worker_cpu_s"] or 0.0 for s in steps), default=0.0
        ),
        "memory": memory,
    }


def run_ab(baseline: str, rps: float, seconds: float, rounds: int) -> dict[str, Any]:
    """`rounds` rounds of `throughput_step` at `rps`, revision `baseline`'s driver then this
    tree's in each; the steps and their medians per side."""
    with (
        tempfile.TemporaryDirectory(prefix="meshproof-bench-load-") as tmp,
        fortio_process() as (url, target),
    ):
        work = Path(tmp)
        sides = {"base": revision_tree(baseline, work, ("harness", "mesh_runtime")), "now": None}
        steps: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
        for number in range(1, rounds + 1):
            for name, source in sides.items():
                step = throughput_step(
                    url, rps, seconds, work / f"{name}-{number}", source, target.pid
                )
                steps[name].append(step)
                print(f"  round {number}/{rounds} {name:4} {_ab_line(step)}", flush=True)
    return {
        "baseline": baseline,
        "rps": rps,
        "seconds": seconds,
        "steps": steps,
        "median": {name: _medians(runs) for name, runs in steps.items()},
    }


def _ab_line(step: dict[str, Any]) -> str:
    return (
        f"achieved {step['achieved_rps']:8.0f} RPS  unsent {step['unsent']:6d}"
        f"  worker CPU {step['worker_cpu_s']:5.2f} s, waited {step['worker_wait_s'] or 0:5.2f} s"
        f"  {step['rps_per_worker_cpu_s'] or 0:8.0f} requests per CPU-s"
        f"  peak conns {step['peak_connections']:4d}  fortio CPU {step['target_cpu_s'] or 0:5.2f} s"
        f"  load {step['load_average_1m']:.2f}"
    )


def _medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("achieved_rps", "rps_per_worker_cpu_s", "load_average_1m")
    return {key: statistics.median(run[key] or 0.0 for run in runs) for key in keys}


def ab_lines(result: dict[str, Any]) -> list[str]:
    """Median requests per worker CPU-second and achieved rate, baseline against now."""
    base, now = result["median"]["base"], result["median"]["now"]
    ratio = now["rps_per_worker_cpu_s"] / base["rps_per_worker_cpu_s"]
    return [
        f"load driver A/B at {result['rps']:g} RPS, {len(result['steps']['now'])} rounds of"
        f" {result['seconds']:g} s (median): requests per worker CPU-second"
        f" {result['baseline']} {base['rps_per_worker_cpu_s']:.0f} -> now"
        f" {now['rps_per_worker_cpu_s']:.0f} (x{ratio:.2f}); achieved"
        f" {base['achieved_rps']:.0f} -> {now['achieved_rps']:.0f} RPS;"
        f" load {base['load_average_1m']:.2f} / {now['load_average_1m']:.2f}"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.load", description=__doc__)
    parser.add_argument("--step-s", type=float, default=5.0, help="seconds per rate step")
    parser.add_argument("--memory-s", type=float, default=60.0, help="length of the memory run")
    parser.add_argument("--memory-rps", type=float, default=2000.0, help="rate of the memory run")
    parser.add_argument(
        "--baseline", metavar="REV", help="only an A/B: git revision REV's driver against this one"
    )
    parser.add_argument("--ab-rps", type=float, default=6000.0, help="the A/B's fixed rate")
    parser.add_argument("--rounds", type=int, default=3, help="the A/B's rounds")
    args = parser.parse_args(argv)
    if args.baseline is not None:
        try:
            ab = run_ab(args.baseline, args.ab_rps, args.step_s, args.rounds)
        except RunError as exc:
            print(f"load benchmark: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(ab, indent=2))
        print("\n".join(ab_lines(ab)), flush=True)
        return 0
    result = run_load_bench(args.step_s, args.memory_s, args.memory_rps)
    print(json.dumps(result, indent=2))
    print("\n".join(load_lines(result)), flush=True)
    return 0


def load_lines(result: dict[str, Any]) -> list[str]:
    """The steps as a table and the sustained rate against the target."""
    title = (
        f"load driver: one worker, {result['connections']} connections, {result['target']}"
        f" (load average {result['load_average_1m']:.2f} on {result['cpus']} cores)"
    )
    best = result["max_sustained_rps_per_worker"]
    return [
        *curve_lines(title, STEP_COLUMNS, result["steps"]),
        _rate_line(best),
    ]


def _rate_line(best: float) -> str:
    verdict = "met" if best >= TARGET_RPS else "missed"
    return (
        f"sustained RPS per worker (corrected latency recorded): {best:.0f}"
        f" (target >= {TARGET_RPS:g}): {verdict}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
