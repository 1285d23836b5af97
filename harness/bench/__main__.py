"""`make bench`: every benchmark in one run, printing measured numbers and ratios.

    python -m harness.bench [--quick]

1. the mesh: sidecar pair vs HAProxy pair vs no proxy at 1000 RPS, beside Envoy's
   published figures (harness.bench.mesh), and the sidecar listener's Python per
   request, in process (harness.bench.hotpath);
2. the load driver: sustained RPS per Locust worker and orchestrator memory
   (harness.bench.load);
3. Istio's API to the reference mesh: from the API call that changes a VirtualService
   fault to every sidecar obeying it, through a real kube-apiserver
   (harness.bench.istio_propagation; skipped, saying why, without the API server binaries).
"""

from __future__ import annotations

import argparse
import sys

from harness.bench import hotpath, istio_propagation, load, mesh
from mesh_runtime.errors import ToolNotFound


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, for a smoke check")
    args = parser.parse_args(argv)
    mesh_args = ["--seconds", "4", "--rounds", "1"] if args.quick else []
    load_args = ["--step-s", "3", "--memory-s", "10"] if args.quick else []
    print("== mesh benchmark", flush=True)
    status = mesh.main(mesh_args)
    print("\n== sidecar listener, in process", flush=True)
    status = status or hotpath.main(["--requests", "5000"] if args.quick else [])
    print("\n== load driver benchmark", flush=True)
    status = status or load.main(load_args)
    print("\n== Istio fault propagation benchmark", flush=True)
    try:
        istio_status = istio_propagation.main(["--changes", "5"] if args.quick else [])
    except ToolNotFound as exc:
        print(f"skipped: {exc}", flush=True)
        istio_status = 0
    return status or istio_status


if __name__ == "__main__":
    sys.exit(main())
