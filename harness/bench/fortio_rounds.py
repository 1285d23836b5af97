"""Measure a set-up with fortio, in interleaved rounds: what the benches share.

`measure` runs fortio at a constant rate against one `Target` (`pairs.py`) and reads the
CPU and memory its proxy processes used meanwhile; `interleaved` warms each target, then
measures them in turn round by round, the order alternating (`round_order`), so that
drift of this shared machine hits them alike. The mesh, service-hop and protocols benches
build on it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from harness.bench.pairs import Target, round_order
from harness.errors import RunError
from mesh_runtime.tools import find_binary

PERCENTILES = (50.0, 90.0, 99.0)
HISTOGRAM_RESOLUTION_S = 1e-5
WARM_S = 2.0
"""Each set-up's warm-up run before the measured rounds."""


@dataclass
class Sample:
    """One fortio run against one set-up."""

    qps: float
    seconds: float
    percentiles_ms: dict[float, float]
    errors: int
    requests: int = 0
    """Requests answered, whatever their status."""
    bytes_received: int = 0
    """Payload bytes fortio read back (TCP echo)."""
    cpu_s: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)
    wait_s: dict[str, float] = field(default_factory=dict)
    """Seconds each proxy's main thread was runnable but waited for a CPU (Linux's
    schedstat run delay): the scheduler's part of the tail, which its CPU time misses."""


def fortio_load(
    url: str,
    host: str | None,
    rps: float,
    connections: int,
    seconds: float,
    mode: Sequence[str] = (),
    payload: int = 1024,
) -> dict[str, Any]:
    """One constant-rate fortio run (`rps` 0: as fast as it goes); its JSON result. `mode`:
    fortio's protocol flags (`-grpc -ping`); `host` is the Host header, or gRPC's authority."""
    command = [str(find_binary("fortio")), "load", "-quiet", "-json", "-", *mode]
    command += ["-qps", str(rps), "-c", str(connections), "-t", f"{seconds}s", "-uniform"]
    command += ["-payload-size", str(payload), "-p", ",".join(f"{p:g}" for p in PERCENTILES)]
    # 10 µs buckets: fortio's default (1 ms) interpolates every sub-millisecond percentile
    # inside one bucket, and the figures compared here are tenths of a millisecond.
    command += ["-r", f"{HISTOGRAM_RESOLUTION_S:g}"]
    command += ["-allow-initial-errors"]
    if host:
        command += ["-H", f"Host: {host}"]
    done = subprocess.run([*command, url], capture_output=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RunError(f"fortio load failed: {done.stderr.decode(errors='replace')[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(
    target: Target,
    rps: float,
    connections: int,
    seconds: float,
    mode: Sequence[str] = (),
    payload: int = 1024,
) -> Sample:
    """Run fortio against `target`, with the CPU and memory its proxies used meanwhile.
    Answers that count as success: HTTP 200, gRPC SERVING (ping), TCP echo OK."""
    procs = {role: psutil.Process(pid) for role, pid in target.pids.items()}
    before = {role: _cpu(p) for role, p in procs.items()}
    waited = {role: _run_delay(pid) for role, pid in target.pids.items()}
    result = fortio_load(target.url, target.host, rps, connections, seconds, mode, payload)
    after = {role: _cpu(p) for role, p in procs.items()}
    waited = {role: _run_delay(pid) - waited[role] for role, pid in target.pids.items()}
    codes = result.get("RetCodes", {})
    ok = sum(int(codes.get(code, 0)) for code in ("200", "SERVING", "OK"))
    answered = sum(int(v) for v in codes.values())
    percentiles = {
        float(p["Percentile"]): float(p["Value"]) * 1000
        for p in result["DurationHistogram"]["Percentiles"]
    }
    return Sample(
        bytes_received=int(result.get("BytesReceived", 0)),
        qps=float(result["ActualQPS"]),
        seconds=float(result["ActualDuration"]) / 1e9,
        percentiles_ms=percentiles,
        errors=answered - ok,
        requests=answered,
        cpu_s={role: after[role] - before[role] for role in procs},
        rss_mb={role: p.memory_info().rss / 2**20 for role, p in procs.items()},
        wait_s=waited,
    )


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _run_delay(pid: int) -> float:
    """Seconds thread `pid` has waited on a run queue (0.0 where schedstat is not kept)."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def interleaved(
    targets: Sequence[Target],
    rounds: int,
    run: Callable[[Target, float], Sample],
    seconds: float,
    label: str = "",
) -> tuple[dict[str, Sample], dict[str, list[Sample]]]:
    """Each target warmed by a `WARM_S` run of `run(target, seconds)` (pools, JITs, caches),
    then `rounds` rounds of `seconds` over the targets in turn, so that drift of the shared
    machine hits them alike; a line printed per measurement. The warm-up sample and the
    rounds' samples of each target, by name. The order alternates (`round_order`)."""
    warm = {target.name: run(target, WARM_S) for target in targets}
    samples: dict[str, list[Sample]] = {target.name: [] for target in targets}
    for number in range(1, rounds + 1):
        for target in round_order(targets, number):
            sample = run(target, seconds)
            samples[target.name].append(sample)
            print(
                f"  {label}round {number}/{rounds} {target.name:14} {_line(sample)}"
                f"  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    return warm, samples


def _line(sample: Sample) -> str:
    pct = " ".join(f"p{p:g}={v:.2f}ms" for p, v in sample.percentiles_ms.items())
    cpu = " ".join(f"{c:.3f}" for c in cores_per_krps(sample).values())
    wait = " ".join(f"{w:.0f}" for w in wait_us_per_request(sample).values())
    return f"{sample.qps:7.0f} rps  {pct}  errors={sample.errors}" + (
        f"  cores/krps {cpu}  run-queue us/req {wait}" if cpu else ""
    )


def wait_us_per_request(sample: Sample) -> dict[str, float]:
    """Microseconds each proxy process waited for a CPU, per request answered."""
    return {role: wait * 1e6 / max(1, sample.requests) for role, wait in sample.wait_s.items()}


def cores_per_krps(sample: Sample) -> dict[str, float]:
    """Cores per 1000 RPS of each proxy process in one sample."""
    return {
        role: (cpu / sample.seconds) / (sample.qps / 1000) for role, cpu in sample.cpu_s.items()
    }
