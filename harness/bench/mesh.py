"""The mesh benchmark: what the sidecar pair adds, next to an HAProxy pair and no proxy.

    python -m harness.bench.mesh [--rps 1000] [--connections 16] [--seconds 10] [--rounds 3]

Three set-ups carry the same traffic to the same fortio echo server, measured side by
side in one run, interleaved round by round so that drift of this shared machine hits
them alike:

- direct:  fortio load -> fortio server
- haproxy: fortio load -> HAProxy (client side) -> HAProxy (server side) -> fortio server,
           each HAProxy one process with one thread, keep-alive both ways
- mesh:    fortio load -> client sidecar (outbound) -> server sidecar (inbound) -> fortio
           server, tracing (OTLP to a real trace sink) and metrics on

Load: fortio at a constant rate (Istio's own benchmark tool), POST with 1 KiB bodies that
the echo server returns. Reported: p50 / p90 / p99 per set-up (median over rounds), the
latency each proxy pair adds over direct, sidecar CPU (cores per 1000 RPS, both sidecars
together and per sidecar) and resident memory, and the ratios against the targets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness.bench.procs import fortio_server, free_port, spawned
from mesh_runtime.config import Endpoint, MeshConfig, ServiceEntry
from mesh_runtime.errors import RunError
from mesh_runtime.tools import find_binary

PERCENTILES = (50.0, 90.0, 99.0)
TARGET_P90_RATIO = 1.5
TARGET_CPU_PER_KRPS = 0.25
TARGET_RSS_MB = 60.0


@dataclass
class Sample:
    """One fortio run against one set-up."""

    qps: float
    seconds: float
    percentiles_ms: dict[float, float]
    errors: int
    cpu_s: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)


@dataclass
class Target:
    name: str
    url: str
    host: str | None
    pids: dict[str, int]


def fortio_load(
    url: str, host: str | None, rps: float, connections: int, seconds: float
) -> dict[str, Any]:
    """One constant-rate fortio run; its JSON result."""
    command = [str(find_binary("fortio")), "load", "-quiet", "-json", "-"]
    command += ["-qps", str(rps), "-c", str(connections), "-t", f"{seconds}s", "-uniform"]
    command += ["-payload-size", "1024", "-p", ",".join(f"{p:g}" for p in PERCENTILES)]
    command += ["-allow-initial-errors"]
    if host:
        command += ["-H", f"Host: {host}"]
    done = subprocess.run([*command, url], capture_output=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RunError(f"fortio load failed: {done.stderr.decode(errors='replace')[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(target: Target, rps: float, connections: int, seconds: float) -> Sample:
    """Run fortio against `target`, with the CPU and memory its proxies used meanwhile."""
    procs = {role: psutil.Process(pid) for role, pid in target.pids.items()}
    before = {role: _cpu(p) for role, p in procs.items()}
    result = fortio_load(target.url, target.host, rps, connections, seconds)
    after = {role: _cpu(p) for role, p in procs.items()}
    codes = result.get("RetCodes", {})
    ok = int(codes.get("200", 0))
    errors = sum(int(v) for v in codes.values()) - ok
    percentiles = {
        float(p["Percentile"]): float(p["Value"]) * 1000
        for p in result["DurationHistogram"]["Percentiles"]
    }
    return Sample(
        qps=float(result["ActualQPS"]),
        seconds=float(result["ActualDuration"]) / 1e9,
        percentiles_ms=percentiles,
        errors=errors,
        cpu_s={role: after[role] - before[role] for role in procs},
        rss_mb={role: p.memory_info().rss / 2**20 for role, p in procs.items()},
    )


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


@contextmanager
def haproxy_pair(upstream_port: int, work: Path) -> Iterator[Target]:
    """Two single-threaded HAProxy processes in a row, as a client and a server sidecar."""
    server_port, client_port = free_port(), free_port()
    binary = str(find_binary("haproxy"))
    with ExitStack() as stack:
        pids = {}
        for role, listen, upstream in (
            ("haproxy-server", server_port, upstream_port),
            ("haproxy-client", client_port, server_port),
        ):
            config = work / f"{role}.cfg"
            config.write_text(_haproxy_config(listen, upstream))
            proc = stack.enter_context(
                spawned(
                    role, [binary, "-db", "-f", str(config)], port=listen, log=work / f"{role}.log"
                )
            )
            pids[role] = proc.pid
        yield Target("haproxy", f"http://127.0.0.1:{client_port}/echo", None, pids)


def _haproxy_config(listen: int, upstream: int) -> str:
    return f"""global
    nbthread 1
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend in
    bind 127.0.0.1:{listen}
    default_backend out
backend out
    http-reuse always
    server upstream 127.0.0.1:{upstream}
"""


@dataclass(frozen=True)
class SidecarPorts:
    inbound: int
    outbound: int
    admin: int
    app: int

    @classmethod
    def fresh(cls, app: int) -> SidecarPorts:
        return cls(free_port(), free_port(), free_port(), app)


def _echo_config(server: SidecarPorts) -> MeshConfig:
    """Static mesh config: one service 'echo' whose one endpoint is the server sidecar."""
    endpoint = Endpoint(instance="echo-0", version="v1", address=f"127.0.0.1:{server.inbound}")
    return MeshConfig(version=1, services={"echo": ServiceEntry(name="echo", endpoints=[endpoint])})


def _sidecar_command(service: str, ports: SidecarPorts, config: Path, otlp: str) -> list[str]:
    command = [sys.executable, "-m", "mesh_runtime.sidecar", "--service", service]
    command += ["--instance", f"{service}-0", "--config", str(config)]
    command += ["--inbound-port", str(ports.inbound), "--outbound-port", str(ports.outbound)]
    command += ["--app-port", str(ports.app), "--admin-port", str(ports.admin)]
    return [*command, "--otlp-endpoint", otlp, "--log-level", "WARNING"]


@contextmanager
def sidecar_pair(upstream_port: int, work: Path) -> Iterator[Target]:
    """A client sidecar and a server sidecar (static config), tracing to a real trace sink."""
    server, client = SidecarPorts.fresh(upstream_port), SidecarPorts.fresh(free_port())
    config_file = work / "mesh.json"
    config_file.write_text(_echo_config(server).model_dump_json())
    sink_port = free_port()
    sink = [sys.executable, "-m", "mesh_runtime.tracesink", "--port", str(sink_port)]
    sink += ["--out", str(work / "spans.jsonl")]
    otlp = f"http://127.0.0.1:{sink_port}/v1/traces"
    with ExitStack() as stack:
        sink_ready = f"http://127.0.0.1:{sink_port}/ready"
        stack.enter_context(
            spawned("trace sink", sink, ready_url=sink_ready, log=work / "sink.log")
        )
        pids = {}
        for role, service, ports in (
            ("sidecar-server", "echo", server),
            ("sidecar-client", "client", client),
        ):
            command = _sidecar_command(service, ports, config_file, otlp)
            ready = f"http://127.0.0.1:{ports.admin}/ready"
            proc = stack.enter_context(
                spawned(role, command, ready_url=ready, log=work / f"{role}.log")
            )
            pids[role] = proc.pid
        yield Target("mesh", f"http://127.0.0.1:{client.outbound}/echo", "echo", pids)


def run_mesh_bench(rps: float, connections: int, seconds: float, rounds: int) -> dict[str, Any]:
    """Interleaved rounds over the three set-ups; medians per set-up and the ratios."""
    samples: dict[str, list[Sample]] = {"direct": [], "haproxy": [], "mesh": []}
    with tempfile.TemporaryDirectory(prefix="meshproof-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        base = stack.enter_context(fortio_server())
        upstream_port = int(base.rsplit(":", 1)[1])
        targets = [
            Target("direct", f"{base}/echo", None, {}),
            stack.enter_context(haproxy_pair(upstream_port, work)),
            stack.enter_context(sidecar_pair(upstream_port, work)),
        ]
        for target in targets:  # warm pools, JITs and caches before measuring
            measure(target, rps, connections, 2)
        for round_number in range(1, rounds + 1):
            for target in targets:
                sample = measure(target, rps, connections, seconds)
                samples[target.name].append(sample)
                print(
                    f"  round {round_number}/{rounds} {target.name:8} {_line(sample)}", flush=True
                )
    return summarise(samples)


def _line(sample: Sample) -> str:
    pct = " ".join(f"p{p:g}={v:.2f}ms" for p, v in sample.percentiles_ms.items())
    return f"{sample.qps:7.0f} rps  {pct}  errors={sample.errors}"


def summarise(samples: dict[str, list[Sample]]) -> dict[str, Any]:
    """Medians per set-up; added latency over direct; sidecar CPU and memory; ratios."""
    med = {
        name: {p: statistics.median(s.percentiles_ms[p] for s in runs) for p in PERCENTILES}
        for name, runs in samples.items()
    }
    added = {
        name: {p: med[name][p] - med["direct"][p] for p in PERCENTILES}
        for name in ("haproxy", "mesh")
    }
    cpu = _cpu_per_krps(samples["mesh"])
    haproxy_cpu = _cpu_per_krps(samples["haproxy"])
    rss = max(max(s.rss_mb.values()) for s in samples["mesh"])
    p90_ratio = added["mesh"][90.0] / added["haproxy"][90.0] if added["haproxy"][90.0] > 0 else None
    return {
        "percentiles_ms": {n: {f"p{p:g}": v for p, v in m.items()} for n, m in med.items()},
        "added_ms": {n: {f"p{p:g}": v for p, v in a.items()} for n, a in added.items()},
        "qps": {n: statistics.median(s.qps for s in runs) for n, runs in samples.items()},
        "errors": {n: sum(s.errors for s in runs) for n, runs in samples.items()},
        "sidecar_cpu_per_krps": cpu,
        "haproxy_cpu_per_krps": haproxy_cpu,
        "sidecar_rss_mb": rss,
        "added_p90_ratio_mesh_vs_haproxy": p90_ratio,
        "targets": {
            "added_p90_ratio": TARGET_P90_RATIO,
            "sidecar_cpu_per_krps": TARGET_CPU_PER_KRPS,
            "sidecar_rss_mb": TARGET_RSS_MB,
        },
    }


def _cpu_per_krps(runs: list[Sample]) -> dict[str, float]:
    """Cores per 1000 RPS for each proxy process, median over rounds."""
    return {
        role: statistics.median((s.cpu_s[role] / s.seconds) / (s.qps / 1000) for s in runs)
        for role in runs[0].cpu_s
    }


def print_report(result: dict[str, Any]) -> None:
    """The table and ratios, plain text so CI logs keep them."""
    pct = result["percentiles_ms"]
    print("\nlatency (median of rounds), ms        p50      p90      p99     rps  errors")
    for name in ("direct", "haproxy", "mesh"):
        row = pct[name]
        print(
            f"  {name:34} {row['p50']:8.2f} {row['p90']:8.2f} {row['p99']:8.2f}"
            f" {result['qps'][name]:7.0f} {result['errors'][name]:7d}"
        )
    print("added over direct, ms")
    for name, label in (("haproxy", "HAProxy pair"), ("mesh", "sidecar pair (tracing + metrics)")):
        row = result["added_ms"][name]
        print(f"  {label:34} {row['p50']:8.2f} {row['p90']:8.2f} {row['p99']:8.2f}")
    ratio = result["added_p90_ratio_mesh_vs_haproxy"]
    targets = result["targets"]
    text = "n/a (HAProxy added nothing measurable)" if ratio is None else f"{ratio:.2f}x"
    print(
        f"added p90, sidecar pair / HAProxy pair: {text} (target <= {targets['added_p90_ratio']}x)"
    )
    for role, cores in result["sidecar_cpu_per_krps"].items():
        print(
            f"{role} CPU: {cores:.3f} cores per 1000 RPS (target <= {targets['sidecar_cpu_per_krps']})"
        )
    for role, cores in result["haproxy_cpu_per_krps"].items():
        print(f"{role} CPU: {cores:.3f} cores per 1000 RPS (for comparison)")
    print(
        f"sidecar resident memory: {result['sidecar_rss_mb']:.1f} MB (target <= {targets['sidecar_rss_mb']:g})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.mesh", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rps", type=float, default=1000.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    print(
        f"mesh benchmark: {args.rps:g} RPS, {args.connections} connections, 1 KiB bodies, {args.rounds} x {args.seconds:g}s per set-up"
    )
    result = run_mesh_bench(args.rps, args.connections, args.seconds, args.rounds)
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
