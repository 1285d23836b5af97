"""CPU per hop of the sample services: one service and its sidecar at a fixed rate.

    fortio load -> sidecar (inbound) -> app "a" -> sidecar (outbound, Host: b) -> app "b"

App "a" serves each request and makes one downstream call through its sidecar (a server
hop and a client hop); app "b" only serves (a server hop). Both send their spans to a
real trace sink, as in the shop. Each process's CPU (user + system, from /proc) over the
measured run, divided by the answers fortio counted, is its CPU per request. With
`--baseline REV` the apps of git revision REV run beside the current ones (the same
sidecar code), interleaved, for a before / after in one run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import uvloop

from harness.bench.fortio_rounds import Sample, interleaved, measure
from harness.bench.hotpath import handler_cpu_us
from harness.bench.pairs import SidecarPorts, Target, revision_tree, sidecar_command, trace_sink
from harness.bench.procs import spawned
from harness.errors import RunError
from mesh_runtime.config import Endpoint, MeshConfig, ServiceEntry
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.services.app import ShopService
from mesh_runtime.services.calls import Downstream, Targets
from mesh_runtime.services.http_serve import LIMITS
from mesh_runtime.services.tracing import ServiceIdentity, ServiceTracer

TARGET_CPU_MS_PER_HOP = 0.1
"""Issue 17: a sample service spends at most this much CPU per hop."""
REQUEST = (
    b"GET /shop HTTP/1.1\r\nHost: b\r\nx-request-id: 0123456789abcdef0123456789abcdef\r\n"
    b"traceparent: 00-0123456789abcdef0123456789abcdef-0123456789abcdef-01\r\n"
    b"x-meshproof-peer: a\r\n\r\n"
)
"""What a leaf service receives from its sidecar."""


def hop_config(b_port: int) -> MeshConfig:
    """Service 'b' whose one endpoint is app b itself (plain text), called by 'a'."""
    endpoint = Endpoint(instance="b-0", version="v1", address=f"127.0.0.1:{b_port}")
    services = {"b": ServiceEntry(name="b", endpoints=[endpoint]), "a": ServiceEntry(name="a")}
    return MeshConfig(version=1, services=services)


def _service(name: str, port: int, otlp: str, extra: list[str]) -> list[str]:
    command = [sys.executable, "-m", "mesh_runtime.services", "--service", name]
    command += ["--instance", f"{name}-0", "--port", str(port), "--otlp-endpoint", otlp]
    return [*command, *extra]


@contextmanager
def service_hop(
    work: Path, otlp: str, source: Path | None = None, name: str = "apps"
) -> Iterator[Target]:
    """Apps a and b (from `source`, another revision's tree, when given) and a's sidecar."""
    a_port, b_port = fresh_port(), fresh_port()
    sidecar = SidecarPorts.fresh(a_port)
    config_file = work / f"{name}-mesh.json"
    config_file.write_text(hop_config(b_port).model_dump_json())
    env = {"PYTHONPATH": str(source)} if source else None
    with ExitStack() as stack:
        pids = {}
        for role, port, extra in (
            ("app-b", b_port, []),
            ("app-a", a_port, ["--calls", "b", "--via", f"127.0.0.1:{sidecar.outbound}"]),
        ):
            proc = stack.enter_context(
                spawned(
                    f"{name} {role}",
                    _service(role[-1], port, otlp, extra),
                    ready_url=f"http://127.0.0.1:{port}/_health",
                    log=work / f"{name}-{role}.log",
                    env=env,
                    cwd=source,
                )
            )
            pids[role] = proc.pid
        command = sidecar_command("a", sidecar, ["--config", str(config_file)], otlp)
        proc = stack.enter_context(
            spawned(
                f"{name} sidecar",
                command,
                ready_url=f"http://127.0.0.1:{sidecar.admin}/ready",
                log=work / f"{name}-sidecar.log",
            )
        )
        pids["sidecar"] = proc.pid
        yield Target(name, f"http://127.0.0.1:{sidecar.inbound}/shop", "a", pids)


def cpu_ms_per_request(sample: Sample) -> dict[str, float]:
    """Each process's CPU milliseconds per answered request in one run."""
    answered = max(sample.requests, 1)
    return {role: cpu * 1000 / answered for role, cpu in sample.cpu_s.items()}


def summarise(samples: dict[str, list[Sample]]) -> dict[str, dict[str, float]]:
    """Median over rounds of CPU ms per request, per set-up and process; plus the hops:
    b's (a server hop) and a's minus b's (a client hop); and each app's CPU as a share of
    the sidecar's in the same round (`a / sidecar`, `b / sidecar`): every set-up runs the
    same sidecar, so the share moves less with the host than the milliseconds do (on a
    loaded host a round that falls short of the rate batches its reads and costs less a
    request, in every process alike)."""
    out: dict[str, dict[str, float]] = {}
    for name, runs in samples.items():
        per = [cpu_ms_per_request(s) for s in runs]
        row = {role: statistics.median(p[role] for p in per) for role in per[0]}
        row["server hop"] = row["app-b"]
        row["client hop"] = row["app-a"] - row["app-b"]
        for app in ("a", "b"):
            shares = (p[f"app-{app}"] / max(p["sidecar"], 1e-9) for p in per)
            row[f"{app} / sidecar"] = statistics.median(shares)
        row["errors"] = float(sum(s.errors for s in runs))
        row["rps"] = statistics.median(s.qps for s in runs)
        out[name] = row
    return out


async def _server_hop_us(requests: int) -> float:
    """CPU microseconds per request of a leaf service's server hop in process, without
    sockets: the listener (parse, task, answer) and the service's handler (behaviour, its
    span, encoded for export, the JSON answer)."""
    identity = ServiceIdentity("b", "b-0", "v1")
    tracer = ServiceTracer(identity, "http://127.0.0.1:9/v1/traces")  # encoded, never sent
    downstream = Downstream(Targets(None, {}), 10.0)
    service = ShopService(identity, [], downstream, tracer, random.Random(1))
    return await handler_cpu_us(service.handle, REQUEST, requests, LIMITS)


def server_hop_in_process(requests: int = 5000, repeats: int = 5) -> list[float]:
    """`_server_hop_us` on a fresh loop per repeat (the span queue holds them all)."""
    return [uvloop.run(_server_hop_us(requests)) for _ in range(repeats)]


def run(
    rps: float, connections: int, seconds: float, rounds: int, baseline: str | None
) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="meshproof-hop-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        otlp = stack.enter_context(trace_sink(work))
        targets = [stack.enter_context(service_hop(work, otlp))]
        if baseline is not None:
            old = revision_tree(baseline, work)
            targets.append(stack.enter_context(service_hop(work, otlp, old, "apps-base")))
        _, samples = interleaved(
            targets, rounds, lambda t, s: measure(t, rps, connections, s, payload=0), seconds
        )
    return summarise(samples)


def print_report(result: dict[str, dict[str, float]]) -> None:
    roles = ("app-a", "app-b", "sidecar", "server hop", "client hop")
    print("\nCPU ms per request (median of rounds) " + " ".join(f"{r:>11}" for r in roles))
    for name, row in result.items():
        cells = " ".join(f"{row[r]:11.3f}" for r in roles)
        print(f"  {name:36} {cells}   rps {row['rps']:.0f} errors {row['errors']:.0f}")
    for name, row in result.items():
        print(
            f"  {name}: app a / sidecar {row['a / sidecar']:.3f}, app b / sidecar"
            f" {row['b / sidecar']:.3f} (CPU shares, median of rounds)"
        )
    for name, row in result.items():
        hop = max(row["server hop"], row["client hop"])
        verdict = "met" if hop <= TARGET_CPU_MS_PER_HOP else "missed"
        print(
            f"{name}: the costlier hop {hop:.3f} ms CPU, target <= {TARGET_CPU_MS_PER_HOP} ms:"
            f" {verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.service_hop", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rps", type=float, default=300.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--baseline", metavar="REV", help="also run git revision REV's apps, interleaved"
    )
    args = parser.parse_args(argv)
    print(
        f"service hop benchmark: {args.rps:g} RPS GET, {args.connections} connections,"
        f" {args.rounds} x {args.seconds:g}s per set-up;"
        f" load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    try:
        result = run(args.rps, args.connections, args.seconds, args.rounds, args.baseline)
    except RunError as exc:
        print(f"service hop benchmark: {exc}", file=sys.stderr)
        return 2
    print_report(result)
    figures = server_hop_in_process()
    print(
        f"server hop in process (no sockets, no kernel; moves little with the host's load):"
        f" min {min(figures):.1f} us, median {statistics.median(figures):.1f} us of Python"
    )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
