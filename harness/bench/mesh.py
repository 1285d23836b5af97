"""The mesh benchmark: what the sidecar pair adds, next to an HAProxy pair and no proxy.

    python -m harness.bench.mesh [--rps 1000] [--connections 16] [--seconds 10] [--rounds 3]
                                 [--baseline REV]

Three set-ups carry the same traffic to the same fortio echo server, measured side by
side in one run, interleaved round by round (in the listed order, then reversed, and so
on: use an even `--rounds`) so that drift of this shared machine hits them alike:

- direct:  fortio load -> fortio server
- haproxy: fortio load -> HAProxy (client side) -> HAProxy (server side) -> fortio server,
           each HAProxy one process with one thread, keep-alive both ways
- mesh:    fortio load -> client sidecar (outbound) -> server sidecar (inbound) -> fortio
           server, tracing (OTLP to a real trace sink) and metrics on
- mesh-mtls: the same pair configured by a real control plane with its CA, mutual TLS
           between the sidecars (the shop's set-up; `--no-mtls` leaves it out)
- mesh-base, mesh-mtls-base (with `--baseline REV`): the same two pairs running git
           revision REV's sidecar, interleaved with the current one: a before / after
           of a sidecar change from one run, both sides under the same drift

Load: fortio at a constant rate (Istio's own benchmark tool), POST with 1 KiB bodies that
the echo server returns. Reported: p50 / p90 / p99 per set-up (median over rounds), the
latency each proxy pair adds over direct, sidecar CPU (cores per 1000 RPS, per sidecar)
and resident memory, beside Envoy's published figures with the ratio. HAProxy stays in
the table as the floor (it adds about 0.01 ms: a ratio to it is noise). The load
average at the start is printed: the machine may be shared, and a busy one shows in
every tail. `--layout two-nodes` runs the client side and the server side of every
set-up on separate halves of the CPUs, as two nodes would (harness/bench/layout.py); the
default leaves every process free to run on any CPU.

The trace sink stands for the user's collector, which runs on other machines in Istio's
benchmark: by default (`--collector elsewhere`) it runs at SCHED_IDLE, on the CPU time the
measured processes leave, so its bursts (an export of 256 spans is about 1 ms of its CPU,
8 a second a sidecar) never hold a CPU a proxy waits for; the sidecars still make, encode
and send every span. The HAProxy pair, which sends none, never met that competition.
`--collector shared` is the set-up before session 26: alternated with it (2 x 2 runs of
`--rounds 2 --seconds 10 --no-mtls`, 11:06-11:11, load 0.6-0.8) the plain pair's added
p90 / p99 read 0.51 / 1.43 and 0.47 / 1.15 ms shared, 0.47 / 0.84 and 0.44 / 0.74 ms
elsewhere; its CPU 0.154 / 0.171 and 0.147 / 0.165 against 0.146 / 0.161 and 0.144 / 0.159
cores per 1000 RPS; every span arrived either way.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness.bench.fortio_rounds import (
    PERCENTILES,
    Sample,
    cores_per_krps,
    interleaved,
    measure,
    wait_us_per_request,
)
from harness.bench.layout import LAYOUTS, Layout, two_nodes
from harness.bench.pairs import (
    Target,
    haproxy_pair,
    request_paths,
    revision_tree,
    sidecar_pairs,
    trace_sink,
)
from harness.bench.procs import fortio_process
from harness.errors import RunError

ENVOY_ADDED_MS = {90.0: 0.228, 99.0: 0.298}
"""Istio 1.20's published latency its Envoy sidecar pair adds at 1000 RPS, 16
connections, 1 KiB payloads (mTLS and telemetry on): the sidecar pair's target."""
ENVOY_CPU_PER_KRPS = 0.20
"""Istio 1.24's published sidecar CPU: vCPU per 1000 RPS through one sidecar."""
TARGET_RSS_MB = 40.0
COLLECTORS = ("elsewhere", "shared")
"""Where the trace sink's CPU comes from (`--collector`)."""


PROXIED = ("haproxy", "mesh", "mesh-mtls", "mesh-base", "mesh-mtls-base")
"""The set-ups measured against direct, in report order."""


def run_mesh_bench(
    rps: float,
    connections: int,
    seconds: float,
    rounds: int,
    mtls: bool = True,
    baseline: str | None = None,
    layout: Layout = "shared",
    collector: str = "elsewhere",
) -> dict[str, Any]:
    """Interleaved rounds over the set-ups; medians per set-up and the ratios. With
    `baseline` (a git revision) its sidecar's pairs run beside the current one's; with
    `layout` "two-nodes" each side on its own half of the CPUs; `collector` "shared": the
    trace sink competes for the CPUs as any process (else it runs on what they leave)."""
    with tempfile.TemporaryDirectory(prefix="meshproof-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        old = revision_tree(baseline, work) if baseline is not None else None
        paths = request_paths(old)
        print_request_paths(paths)
        python = interpreter()
        print(f"sidecar interpreter: {python}", flush=True)
        base, echo = stack.enter_context(fortio_process())
        upstream_port = int(base.rsplit(":", 1)[1])
        otlp = stack.enter_context(trace_sink(work, elsewhere=collector == "elsewhere"))
        targets = [
            Target("direct", f"{base}/echo", None, {}),
            stack.enter_context(haproxy_pair(upstream_port, work)),
            *sidecar_pairs(stack, upstream_port, work, otlp, mtls, old),
        ]
        if layout == "two-nodes":
            roles = {role: pid for target in targets for role, pid in target.pids.items()}
            print(stack.enter_context(two_nodes(roles, [echo.pid])))
        warm, samples = interleaved(
            targets, rounds, lambda t, s: measure(t, rps, connections, s), seconds
        )
        through_sidecars = sum(
            sample.requests
            for name, runs in samples.items()
            if name.startswith("mesh")
            for sample in (warm[name], *runs)
        )
        spans = spans_at_sink(work / "spans.jsonl", 2 * through_sidecars)
    result = summarise(samples)
    result["request_path"] = paths
    result["interpreter"] = python
    result["layout"] = layout
    result["spans"] = {"expected": 2 * through_sidecars, "at_sink": spans}
    return result


def interpreter() -> str:
    """The CPython every sidecar here runs on (this process's, as `sys.executable` starts
    them): its build moves a request's CPU by 10-15 %, Debian's PGO + LTO build against
    pyenv's default one without (session 29)."""
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    return f"CPython {sys.version.split()[0]} ({base})"


def print_request_paths(paths: dict[str, str]) -> None:
    """One line: each tree's sidecar compiled or Python, and a warning when they differ."""
    line = ", ".join(f"{tree} {path}" for tree, path in paths.items())
    if len(set(paths.values())) > 1:
        line += " (NOT ALIKE: the comparison measures the build; run `python -m"
        line += " mesh_runtime.sidecar.native build` in the Python one's tree first)"
    print(f"sidecar request path: {line}", flush=True)


def spans_at_sink(path: Path, expected: int, timeout_s: float = 10.0) -> int:
    """Spans the sink has written, once `expected` are there or none came for a second."""
    deadline = time.monotonic() + timeout_s
    count, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_count = _lines(path)
        if now_count != count:
            count, last_change = now_count, time.monotonic()
        if count >= expected or time.monotonic() - last_change > 1.0:
            break
        time.sleep(0.1)
    return count


def _lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def summarise(samples: dict[str, list[Sample]]) -> dict[str, Any]:
    """Medians per set-up; added latency over direct; proxy CPU and memory; ratios."""
    med = {
        name: {p: statistics.median(s.percentiles_ms[p] for s in runs) for p in PERCENTILES}
        for name, runs in samples.items()
    }
    proxied = [name for name in PROXIED if name in samples]
    added = {name: {p: med[name][p] - med["direct"][p] for p in PERCENTILES} for name in proxied}
    return {
        "percentiles_ms": {n: {f"p{p:g}": v for p, v in m.items()} for n, m in med.items()},
        "added_ms": {n: {f"p{p:g}": v for p, v in a.items()} for n, a in added.items()},
        "qps": {n: statistics.median(s.qps for s in runs) for n, runs in samples.items()},
        "errors": {n: sum(s.errors for s in runs) for n, runs in samples.items()},
        "cpu_per_krps": {n: _cpu_per_krps(samples[n]) for n in proxied},
        "rss_mb": {n: max(max(s.rss_mb.values()) for s in samples[n]) for n in proxied},
        "run_queue_us_per_request": {n: _wait_per_request(samples[n]) for n in proxied},
        "added_ratio_vs_envoy": {
            n: {f"p{p:g}": added[n][p] / envoy for p, envoy in ENVOY_ADDED_MS.items()}
            for n in proxied
            if n != "haproxy"
        },
        "envoy": {
            "added_ms": {f"p{p:g}": v for p, v in ENVOY_ADDED_MS.items()},
            "cpu_per_krps": ENVOY_CPU_PER_KRPS,
        },
        "targets": {
            "added_ms": {f"p{p:g}": v for p, v in ENVOY_ADDED_MS.items()},
            "sidecar_cpu_per_krps": ENVOY_CPU_PER_KRPS,
            "sidecar_rss_mb": TARGET_RSS_MB,
        },
    }


def _cpu_per_krps(runs: list[Sample]) -> dict[str, float]:
    """Cores per 1000 RPS for each proxy process, median over rounds."""
    return {
        role: statistics.median(cores_per_krps(s)[role] for s in runs) for role in runs[0].cpu_s
    }


def _wait_per_request(runs: list[Sample]) -> dict[str, float]:
    """Microseconds each proxy process waited for a CPU a request, median over rounds."""
    return {
        role: statistics.median(wait_us_per_request(s)[role] for s in runs)
        for role in runs[0].wait_s
    }


LABELS = {
    "haproxy": "HAProxy pair (the floor)",
    "mesh": "sidecar pair (tracing + metrics)",
    "mesh-mtls": "sidecar pair with mTLS",
    "mesh-base": "baseline sidecar pair",
    "mesh-mtls-base": "baseline sidecar pair with mTLS",
}


def print_report(result: dict[str, Any]) -> None:
    """The table and ratios, plain text so CI logs keep them."""
    pct, targets = result["percentiles_ms"], result["targets"]
    print("\nlatency (median of rounds), ms        p50      p90      p99     rps  errors")
    for name, row in pct.items():
        print(
            f"  {name:34} {row['p50']:8.2f} {row['p90']:8.2f} {row['p99']:8.2f}"
            f" {result['qps'][name]:7.0f} {result['errors'][name]:7d}"
        )
    envoy = result["envoy"]
    print("added over direct, ms                 p50      p90      p99   p90/Envoy p99/Envoy")
    for name, row in result["added_ms"].items():
        ratios = result["added_ratio_vs_envoy"].get(name)
        tail = f"   {ratios['p90']:8.1f}x {ratios['p99']:8.1f}x" if ratios else ""
        print(f"  {LABELS[name]:34} {row['p50']:8.2f} {row['p90']:8.2f} {row['p99']:8.2f}{tail}")
    print(
        f"  {'Envoy pair (Istio 1.20, published)':34} {'':8} {envoy['added_ms']['p90']:8.3f}"
        f" {envoy['added_ms']['p99']:8.3f}   (the target)"
    )
    for name, roles in result["cpu_per_krps"].items():
        for role, cores in roles.items():
            if name == "haproxy":
                print(f"{role} CPU: {cores:.3f} cores per 1000 RPS (for comparison)")
                continue
            print(
                f"{role} CPU: {cores:.3f} cores per 1000 RPS, {cores / envoy['cpu_per_krps']:.2f}x"
                f" Envoy's {envoy['cpu_per_krps']:g} vCPU (Istio 1.24, published; the target)"
            )
    for roles in result["run_queue_us_per_request"].values():
        for role, waited in roles.items():
            print(f"{role} waited for a CPU: {waited:.0f} us a request (run queue)")
    for name, rss in result["rss_mb"].items():
        goal = "" if name == "haproxy" else f" (target <= {targets['sidecar_rss_mb']:g})"
        print(f"{LABELS[name]} resident memory, largest process: {rss:.1f} MB{goal}")
    spans = result.get("spans")
    if spans is not None:
        print(
            f"spans at the trace sink: {spans['at_sink']}, at least {spans['expected']} expected"
            " (a CLIENT and a SERVER span per answered request through a sidecar pair; the"
            " requests fortio cuts off at the end of a run add theirs)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.mesh", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rps", type=float, default=1000.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-mtls", action="store_true", help="leave out the mTLS pair")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run git revision REV's sidecar pairs, interleaved (a before / after)",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="shared",
        help="shared: any process on any CPU; two-nodes: client side and server side each"
        " on half of the CPUs",
    )
    parser.add_argument(
        "--collector",
        choices=COLLECTORS,
        default="elsewhere",
        help="elsewhere: the trace sink runs on the CPU time the measured processes leave"
        " (SCHED_IDLE), as a collector on other machines; shared: it competes for the CPUs"
        " (the set-up before session 26)",
    )
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if args.layout == "two-nodes" and len(os.sched_getaffinity(0)) < 2:
        parser.error("--layout two-nodes needs at least 2 CPUs")
    load = os.getloadavg()[0]
    print(
        f"mesh benchmark: {args.rps:g} RPS, {args.connections} connections, 1 KiB bodies,"
        f" {args.rounds} x {args.seconds:g}s per set-up; trace sink {args.collector};"
        f" load average {load:.2f} on {os.cpu_count()} CPUs"
    )
    try:
        result = run_mesh_bench(
            args.rps,
            args.connections,
            args.seconds,
            args.rounds,
            mtls=not args.no_mtls,
            baseline=args.baseline,
            layout=args.layout,
            collector=args.collector,
        )
    except RunError as exc:
        print(f"mesh benchmark: error: {exc}", file=sys.stderr)
        return 2
    result["load_average_1m_at_start"] = load
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
