"""`make bench`: every benchmark in one run, printing measured numbers and ratios.

    python -m harness.bench [--quick] [--only SECTION[,SECTION]]

Sections (`--only` names them; repeated or comma-separated):
- mesh: sidecar pair vs HAProxy pair vs no proxy at 1000 RPS, beside Envoy's published
  figures (harness.bench.mesh);
- grpc, tcp, h2: gRPC unary, TCP echo and 100 HTTP/2 streams on one connection through
  the mTLS sidecar pair, beside direct and an HAProxy pair (harness.bench.protocols);
- hotpath: the sidecar listener's Python per request, in process (harness.bench.hotpath);
- service-hop: a sample service's CPU per server hop and per client hop, one service and
  its sidecar at a fixed rate (harness.bench.service_hop);
- load: sustained RPS per Locust worker, stepped up until the worker falls behind, and
  orchestrator memory (harness.bench.load);
- istio-propagation: Istio's API to the reference mesh: from the API call that changes a
  VirtualService fault to every sidecar obeying it, through a real kube-apiserver
  (harness.bench.istio_propagation; skipped, saying why, without the API server binaries);
- run-size: analysis + report time and peak RSS of synthetic runs of 1 M and 10 M
  requests (harness.bench.run_size);
- mesh-size: `up` time, control-plane push p50 / p99 and CPU per push (whole vs scoped
  sidecar config, a mesh-wide and a one-service change), scrape duration and summed RSS
  of generated meshes of 10 to 100 sidecars (harness.bench.mesh_size);
- tracesink: the trace sink's CPU per 1000 spans, this tree's beside the sink before session
  13's per-span work (02f23c7), interleaved,
  and their spans files compared byte for byte (harness.bench.tracesink);
- run-overhead: the fixed cost of a `meshproof run` on the local runtime, stage by stage
  (start-up, deploy, Prometheus' first scrapes, the load's start, collecting, teardown,
  analysis) of a short library experiment (harness.bench.run_overhead).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from harness.bench.sections import Section, chosen
from mesh_runtime.errors import InvalidInput, ToolNotFound


def _mesh(quick: bool) -> int:
    from harness.bench import mesh

    return mesh.main(["--seconds", "4", "--rounds", "1"] if quick else [])


def _hotpath(quick: bool) -> int:
    from harness.bench import hotpath

    return hotpath.main(["--requests", "5000"] if quick else [])


def _load(quick: bool) -> int:
    from harness.bench import load

    return load.main(["--step-s", "3", "--memory-s", "10"] if quick else [])


def _istio_propagation(quick: bool) -> int:
    from harness.bench import istio_propagation

    try:
        return istio_propagation.main(["--changes", "5"] if quick else [])
    except ToolNotFound as exc:
        print(f"skipped: {exc}", flush=True)
        return 0


def _run_size(quick: bool) -> int:
    from harness.bench import run_size

    return run_size.main(["--requests", "100000", "1000000"] if quick else [])


def _mesh_size(quick: bool) -> int:
    from harness.bench import mesh_size

    return mesh_size.main(["--sidecars", "10", "--pushes", "2"] if quick else [])


def _service_hop(quick: bool) -> int:
    from harness.bench import service_hop

    return service_hop.main(["--seconds", "4", "--rounds", "1"] if quick else [])


def _tracesink(quick: bool) -> int:
    from harness.bench import tracesink

    # against the sink before session 13's per-span work, so the ratio says what it took
    reference = ["--baseline", tracesink.SESSION_13_BEFORE]
    return tracesink.main([*reference, "--rounds", "2", "--exports", "10"] if quick else reference)


def _run_overhead(quick: bool) -> int:
    from harness.bench import run_overhead

    return run_overhead.main(["--rounds", "1"] if quick else [])


def _protocol(name: str) -> Callable[[bool], int]:
    def run(quick: bool) -> int:
        from harness.bench import protocols

        short = ["--seconds", "4", "--rounds", "1"] if quick else []
        return protocols.main(["--only", name, *short])

    return run


SECTIONS = (
    Section("mesh", "mesh benchmark", _mesh),
    Section("grpc", "gRPC through the sidecar pair", _protocol("grpc")),
    Section("tcp", "TCP through the sidecar pair", _protocol("tcp")),
    Section("h2", "HTTP/2 multiplexing through the sidecar pair", _protocol("h2")),
    Section("hotpath", "sidecar listener, in process", _hotpath),
    Section("service-hop", "sample service CPU per hop", _service_hop),
    Section("load", "load driver benchmark", _load),
    Section("istio-propagation", "Istio fault propagation benchmark", _istio_propagation),
    Section("run-size", "cost curve: run size", _run_size),
    Section("mesh-size", "cost curve: mesh size", _mesh_size),
    Section("tracesink", "trace sink CPU per span", _tracesink),
    Section("run-overhead", "fixed cost of a meshproof run", _run_overhead),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, for a smoke check")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SECTION",
        help="run only these sections: " + ", ".join(s.name for s in SECTIONS),
    )
    args = parser.parse_args(argv)
    try:
        sections = chosen(SECTIONS, args.only)
    except InvalidInput as exc:
        print(f"python -m harness.bench {exc}", file=sys.stderr)
        return 2
    status = 0
    for index, section in enumerate(sections):
        print(f"{chr(10) if index else ''}== {section.title}", flush=True)
        status = section.run(args.quick) or status
    return status


if __name__ == "__main__":
    sys.exit(main())
