"""How long an Istio fault takes to reach the reference mesh, through a real API server.

    python -m harness.bench.istio_propagation [--changes 20] [--topology shop.yaml]

A real etcd + kube-apiserver (harness.kube.testing) with Istio's CRDs; the shop deployed on
the local runtime with `--config-source kubernetes` (its policies written as Istio objects,
the control plane watching them). Then, `--changes` times: the VirtualService of
`catalog` gets an abort fault with a new percentage (a merge patch through the API), and
the time runs from just before that API call until the `/config_dump` of every sidecar
that runs catalog (its own and its callers': each gets only its scope) shows
that percentage: the whole path, API server -> watch -> translation -> long poll ->
sidecar. Measured twice: with no traffic, then while fortio sends `--rps` (default 100)
GETs a second through the ingress (the sidecars busy, some answers aborted). Printed:
p50 / p99 / max of each (target: p99 under 2 s).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.stats import percentile
from harness.bench.procs import spawned, unwind_on_sigterm
from mesh_runtime.errors import ControlPlaneError
from mesh_runtime.kube.client import KubeClient
from mesh_runtime.kube.resources import NAMESPACE, VIRTUAL_SERVICE
from mesh_runtime.runtimes.admin import admin_headers, admin_json
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.tools import find_binary

SERVICE = "catalog"
TARGET_P99_S = 2.0
POLL_S = 0.005
SHOP = Path(__file__).resolve().parents[2] / "experiments" / "topologies" / "shop.yaml"


@dataclass(frozen=True)
class Propagation:
    seconds: list[float]

    def summary(self) -> dict[str, float]:
        return {
            "p50_s": percentile(self.seconds, 0.50) or 0.0,  # type: ignore[arg-type]
            "p99_s": percentile(self.seconds, 0.99) or 0.0,  # type: ignore[arg-type]
            "max_s": max(self.seconds),
        }

    def line(self, label: str = "") -> str:
        s = self.summary()
        return (
            f"Istio fault -> every sidecar{label}, {len(self.seconds)} changes: "
            f"p50 {s['p50_s'] * 1000:.0f} ms, p99 {s['p99_s'] * 1000:.0f} ms, "
            f"max {s['max_s'] * 1000:.0f} ms (target p99 < {TARGET_P99_S:g} s)"
        )


def route_faults(
    deployment: Deployment, service: str = SERVICE
) -> dict[str, dict[str, Any] | None]:
    """Sidecar -> the fault of `service`'s first route as it runs it (None: no fault, or no
    answer), for the sidecars that run `service` at all: its own and its callers' (each
    sidecar gets only its scope of the config)."""
    headers = admin_headers(deployment.admin_token_file)
    out: dict[str, dict[str, Any] | None] = {}
    for record in deployment.instances:
        dump = admin_json(f"http://127.0.0.1:{record.admin_port}/config_dump", headers, timeout=2.0)
        if dump and service not in dump["services"]:
            continue
        route = dict(dump["services"][service]["policy"]["http"][0]) if dump else {}
        out[record.instance] = route.get("fault")
    return out


def abort_percentages(deployment: Deployment, service: str = SERVICE) -> dict[str, float | None]:
    """Sidecar -> the abort percentage of `service`'s first route it runs (None: no abort)."""
    return {
        name: ((fault or {}).get("abort") or {}).get("percentage")
        for name, fault in route_faults(deployment, service).items()
    }


def wait_until_obeyed(
    deployment: Deployment, percentage: float | None, timeout_s: float, clock: Callable[[], float]
) -> float:
    """The clock when every sidecar runs `percentage` (ControlPlaneError after `timeout_s`)."""
    deadline = clock() + timeout_s
    waiting: set[str] | None = None
    while waiting is None or waiting:
        seen = abort_percentages(deployment)
        names = seen if waiting is None else waiting
        waiting = {name for name in names if seen.get(name) != percentage}
        if waiting and clock() > deadline:
            raise ControlPlaneError(
                f"sidecars not running abort {percentage} after {timeout_s:g}s: {sorted(waiting)}"
            )
        if waiting:
            time.sleep(POLL_S)
    return clock()


def abort(percentage: float, status: int = 503) -> dict[str, Any]:
    """Istio's HTTPFaultInjection aborting `percentage` % with `status`."""
    return {"abort": {"httpStatus": status, "percentage": {"value": percentage}}}


def delay(fixed: str, percentage: float) -> dict[str, Any]:
    """Istio's HTTPFaultInjection delaying `percentage` % by `fixed` ('300ms')."""
    return {"delay": {"fixedDelay": fixed, "percentage": {"value": percentage}}}


def fault_patch(
    kube: KubeClient, namespace: str, fault: dict[str, Any] | None
) -> tuple[dict[str, Any], str]:
    """The merge patch giving catalog's first VirtualService route `fault` (None: no fault),
    and the resourceVersion it was read at."""
    current = kube.get(VIRTUAL_SERVICE, namespace, SERVICE)
    http = [dict(route) for route in current["spec"]["http"]]
    if fault is None:
        http[0].pop("fault", None)
    else:
        http[0]["fault"] = fault
    return {"spec": {"http": http}}, str(current["metadata"]["resourceVersion"])


def set_fault(kube: KubeClient, namespace: str, fault: dict[str, Any] | None) -> None:
    """Apply `fault_patch` (only to the version read: a concurrent edit is a KubeConflict)."""
    patch, version = fault_patch(kube, namespace, fault)
    kube.merge_patch(VIRTUAL_SERVICE, namespace, SERVICE, patch, resource_version=version)


def measure_propagation(
    kube: KubeClient,
    namespace: str,
    deployment: Deployment,
    changes: int = 20,
    timeout_s: float = 30.0,
    clock: Callable[[], float] = time.perf_counter,
) -> Propagation:
    """`changes` abort percentages applied one after another; each one's seconds from the
    API call to every sidecar obeying it. The fault is removed at the end (and every
    sidecar runs without it when this returns)."""
    seconds: list[float] = []
    try:
        for i in range(changes):
            percentage = float(i + 1)
            patch, version = fault_patch(kube, namespace, abort(percentage))
            started = clock()
            kube.merge_patch(VIRTUAL_SERVICE, namespace, SERVICE, patch, resource_version=version)
            seconds.append(wait_until_obeyed(deployment, percentage, timeout_s, clock) - started)
    finally:
        set_fault(kube, namespace, None)
    wait_until_obeyed(deployment, None, timeout_s, clock)
    return Propagation(seconds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.istio_propagation", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--topology", default=str(SHOP))
    parser.add_argument("--rps", type=float, default=100.0, help="traffic of the second round")
    args = parser.parse_args(argv)
    from harness.kube.crds import crd_files, default_crd_dir, install_crds
    from harness.kube.publish import publish_policies
    from harness.kube.testing import ApiServerBinaries, LocalApiServer
    from mesh_runtime.runtimes.deployment import KubernetesSource
    from mesh_runtime.runtimes.local import LocalRuntime
    from mesh_runtime.topology import load_topology

    work = Path(tempfile.mkdtemp(prefix="meshproof-istio-bench-"))
    (work / "kube").mkdir()
    server = LocalApiServer(work / "kube", ApiServerBinaries.find())
    runtime = LocalRuntime(state_root=work / "state", progress=lambda m: None)
    deployment = None
    unwind_on_sigterm()  # a bench stopped with SIGTERM takes its API server and mesh down
    try:
        server.start()
        with server.client() as kube:
            install_crds(kube, crd_files(default_crd_dir()))
            kube.create(NAMESPACE, None, {"metadata": {"name": "shop"}})
            publish_policies(kube, load_topology(args.topology), "shop")
            source = KubernetesSource(kubeconfig=str(server.kubeconfig), namespace="shop")
            deployment = runtime.up(args.topology, config_source=source)
            idle = measure_propagation(kube, "shop", deployment, changes=args.changes)
            with spawned(
                "fortio load",
                _load(deployment.ingress_url, args.rps),
                ready_url=deployment.ingress_url,
            ):
                busy = measure_propagation(kube, "shop", deployment, changes=args.changes)
        for result, label in ((idle, " (no traffic)"), (busy, f" (under {args.rps:g} RPS)")):
            print(result.line(label), flush=True)
            print("  each (ms): " + " ".join(f"{s * 1000:.0f}" for s in result.seconds))
        worst = max(idle.summary()["p99_s"], busy.summary()["p99_s"])
        return 0 if worst < TARGET_P99_S else 1
    finally:
        if deployment is not None:
            runtime.down(runtime.load(deployment.name))
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _load(url: str, rps: float) -> list[str]:
    """fortio sending `rps` GETs a second to `url` until it is stopped."""
    command = [str(find_binary("fortio")), "load", "-quiet", "-qps", f"{rps:g}", "-c", "4"]
    return [*command, "-t", "0", "-allow-initial-errors", url]


if __name__ == "__main__":
    sys.exit(main())
