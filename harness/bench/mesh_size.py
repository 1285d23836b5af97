"""Mesh size: what `up` and a control-plane push cost as the number of sidecars grows.

    python -m harness.bench.mesh_size [--sidecars 10 30 60 100] [--pushes 5]

Per size N, a generated topology of N services with one instance each (a binary call
tree from `svc-0`, the ingress; N sidecars, N apps) goes up on the local runtime. Two
set-ups are measured on it, interleaved round by round (ABBA): `whole`, every service's
`egress` null, so each sidecar gets the whole config and every change (as before
scoping), and `scoped`, the egress lists the topology gives (a sidecar gets its service
and its callees, and only the changes that touch them). Each round pushes two changes:
- mesh-wide: the mesh's mTLS mode flipped DISABLE <-> PERMISSIVE, which every sidecar
  needs (the issue's "one change to every sidecar");
- one service: svc-1's route timeout (svc-1's and its caller svc-0's sidecars need it).
A sidecar's push time runs from the API call to the first control-plane status showing
that it applied the version (it reports in the long poll it sends right after applying;
the bench reads the status every POLL_S, one request to the control plane, so watching
costs the sidecars nothing): p50 / p99 / max over the sidecars that got the change;
`woken` counts those. CPU, independent of how busy the host is: user + system seconds
of every sidecar and the control plane from the API call until the last sidecar applied
plus SETTLE_S, less their idle rate over IDLE_S just before (the same status polling
running). Also: the `up` wall time, Prometheus' own `scrape_duration_seconds` of the
sidecars (p50 / max), and the summed RSS of the sidecars, the apps and the rest.
Target: mesh-wide push p99 <= 1 s at 100 sidecars (scoped). The load average is
printed beside each row: on a shared 2-core machine the big sizes measure the machine
as much as the mesh.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import psutil
import requests
import yaml

from harness.analysis.stats import percentile
from harness.bench.curves import CurveColumn, curve_lines, target_line
from harness.bench.procs import unwind_on_sigterm
from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes.deployment import Deployment

if TYPE_CHECKING:
    from mesh_runtime.runtimes.local import LocalRuntime

Mode = Literal["whole", "scoped"]
SIZES = (10, 30, 60, 100)
PUSHES = 5
POLL_S = 0.02
IDLE_S = 2.0
SETTLE_S = 0.3
PUSH_TIMEOUT_S = 30.0
TARGET_P99_S = 1.0
COLUMNS = (
    CurveColumn("sidecars", "sidecars"),
    CurveColumn("scope", "config"),
    CurveColumn("up_s", "up s", "{:.1f}"),
    CurveColumn("push_p50_s", "all p50 s", "{:.3f}"),
    CurveColumn("push_p99_s", "all p99 s", "{:.3f}"),
    CurveColumn("push_max_s", "all max s", "{:.3f}"),
    CurveColumn("push_cpu_s", "all CPU s", "{:.2f}"),
    CurveColumn("one_woken", "one woken", "{:.0f}"),
    CurveColumn("one_p99_s", "one p99 s", "{:.3f}"),
    CurveColumn("one_cpu_s", "one CPU s", "{:.2f}"),
    CurveColumn("scrape_p50_ms", "scrape p50 ms", "{:.1f}"),
    CurveColumn("scrape_max_ms", "scrape max ms", "{:.1f}"),
    CurveColumn("sidecar_rss_mb", "sidecars RSS MB", "{:.0f}"),
    CurveColumn("app_rss_mb", "apps RSS MB", "{:.0f}"),
    CurveColumn("load_average_1m", "load 1m", "{:.2f}"),
)


def generated_topology(services: int, fanout: int = 2) -> dict[str, Any]:
    """A topology document of `services` services `svc-0` .. `svc-<n-1>`, one instance
    each: `svc-0` is the ingress and service i calls services fanout*i+1 .. fanout*i+fanout
    (a tree, so every service is on the call graph and there is no cycle)."""
    if services < 1 or fanout < 1:
        raise ValueError("a generated topology needs at least one service and a fanout of 1")
    names = [f"svc-{i}" for i in range(services)]
    document: dict[str, Any] = {
        "name": f"mesh-n{services}",
        "description": f"{services} services in a call tree of fanout {fanout} (bench)",
        "services": {},
    }
    for i, name in enumerate(names):
        callees = names[fanout * i + 1 : fanout * i + fanout + 1]
        spec: dict[str, Any] = {"calls": callees} if callees else {}
        if i == 0:
            spec["ingress"] = True
        document["services"][name] = spec
    return document


@dataclass(frozen=True)
class Push:
    """One change: each woken sidecar's seconds to apply it, and the CPU it cost."""

    seconds: list[float]
    cpu_s: float


def round_modes(index: int) -> tuple[Mode, Mode]:
    """The set-ups of round `index` in ABBA order (one switch per round)."""
    return ("whole", "scoped") if index % 2 == 0 else ("scoped", "whole")


def with_egress(config: MeshConfig, egress: dict[str, list[str] | None]) -> MeshConfig:
    """`config` with each service's egress list replaced by `egress`' (absent: null)."""
    services = {
        name: entry.model_copy(update={"egress": egress.get(name)})
        for name, entry in config.services.items()
    }
    return config.model_copy(update={"services": services})


def push_cpu_s(busy_s: float, elapsed_s: float, idle_per_s: float) -> float:
    """CPU seconds a push cost: what was spent over it less the idle rate's share."""
    return busy_s - idle_per_s * elapsed_s


def applied_times(
    sidecars: dict[str, Any], version: int, elapsed: float, seen: dict[str, float]
) -> bool:
    """Note in `seen` each sidecar first reported applying `version` (status' `applied`);
    True when every sidecar runs `version` (status' `version`, wait_for_version's rule)."""
    for name, report in sidecars.items():
        if name not in seen and int(report.get("applied", -1)) >= version:
            seen[name] = elapsed
    return all(int(report.get("version", -1)) >= version for report in sidecars.values())


class PushBench:
    """Pushes changes to one deployment and times them through the control plane."""

    def __init__(self, deployment: Deployment) -> None:
        assert deployment.control_url is not None
        self.client = ControlPlaneClient(deployment.control_url, deployment.control_token)
        self.instances = [r.instance for r in deployment.instances]
        roles = ("sidecar", "control-plane")
        self._processes = [psutil.Process(p.pid) for p in deployment.processes if p.role in roles]
        self.egress = {n: e.egress for n, e in self.client.config().services.items()}
        self.mode: Mode = "scoped"
        self._changes = 0

    def cpu_s(self) -> float:
        total = 0.0
        for process in self._processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    def switch(self, mode: Mode) -> None:
        """Serve the config whole or scoped; returns once every sidecar runs it."""
        if mode == self.mode:
            return
        egress = self.egress if mode == "scoped" else {}
        version = self.client.put_config(with_egress(self.client.config(), egress))
        self.client.wait_for_version(version, self.instances, PUSH_TIMEOUT_S)
        self.mode = mode

    def mesh_wide(self) -> Push:
        config = self.client.config()
        mtls = "PERMISSIVE" if config.mesh.mtls == "DISABLE" else "DISABLE"
        flipped = config.model_copy(update={"mesh": config.mesh.model_copy(update={"mtls": mtls})})
        return self.timed(lambda: self.client.put_config(flipped))

    def one_service(self) -> Push:
        """svc-1's route timeout, a new value each time (an equal one would be no change)."""
        self._changes += 1
        service = "svc-1" if "svc-1" in self.egress else "svc-0"
        patch = {"http": [{"name": "default", "timeout": f"{10 + self._changes}s"}]}
        return self.timed(lambda: self.client.patch_policy(service, patch))

    def timed(self, change: Callable[[], int]) -> Push:
        idle_started, idle_cpu = time.perf_counter(), self.cpu_s()
        self._watch(-1, idle_started + IDLE_S, {})
        idle_per_s = (self.cpu_s() - idle_cpu) / (time.perf_counter() - idle_started)
        started, busy = time.perf_counter(), self.cpu_s()
        version = change()
        seen: dict[str, float] = {}
        self._watch(version, started + PUSH_TIMEOUT_S, seen)
        self._watch(-1, time.perf_counter() + SETTLE_S, {})
        elapsed, spent = time.perf_counter() - started, self.cpu_s() - busy
        return Push([seen[name] for name in sorted(seen)], push_cpu_s(spent, elapsed, idle_per_s))

    def _watch(self, version: int, until: float, seen: dict[str, float]) -> None:
        """Read the status every POLL_S until every sidecar runs `version` (-1: until
        `until`, only the polling); TimeoutError past `until` otherwise."""
        started = time.perf_counter() if version >= 0 else 0.0
        while True:
            sidecars = self.client.status()["sidecars"]
            now = time.perf_counter()
            if version >= 0:
                wanted = {n: sidecars.get(n, {}) for n in self.instances}
                if applied_times(wanted, version, now - started, seen):
                    return
            if now >= until:
                if version < 0:
                    return
                raise TimeoutError(f"sidecars did not all run config version {version}")
            time.sleep(POLL_S)


def measure_pushes(deployment: Deployment, pushes: int) -> dict[Mode, dict[str, list[Push]]]:
    """`pushes` rounds of both changes in both set-ups, ABBA."""
    bench = PushBench(deployment)
    out: dict[Mode, dict[str, list[Push]]] = {
        mode: {"all": [], "one": []} for mode in ("whole", "scoped")
    }
    try:
        for index in range(pushes):
            for mode in round_modes(index):
                bench.switch(mode)
                out[mode]["all"].append(bench.mesh_wide())
                out[mode]["one"].append(bench.one_service())
    finally:
        bench.client.close()
    return out


def push_summary(pushes: Sequence[Push], prefix: str) -> dict[str, Any]:
    """p50 / p99 / max of every woken sidecar's time, mean woken and CPU per push."""
    seconds = np.asarray([s for push in pushes for s in push.seconds])
    return {
        f"{prefix}_p50_s": percentile(seconds, 0.50),
        f"{prefix}_p99_s": percentile(seconds, 0.99),
        f"{prefix}_max_s": float(seconds.max()) if seconds.size else None,
        f"{prefix}_woken": float(np.mean([len(p.seconds) for p in pushes])) if pushes else None,
        f"{prefix}_cpu_s": float(np.mean([p.cpu_s for p in pushes])) if pushes else None,
        f"{prefix}_samples": int(seconds.size),
    }


def scrape_ms(prometheus_url: str | None) -> list[float]:
    """Prometheus' last `scrape_duration_seconds` of each target, in ms ([] without it)."""
    if prometheus_url is None:
        return []
    answer = requests.get(
        f"{prometheus_url}/api/v1/query", params={"query": "scrape_duration_seconds"}, timeout=5
    ).json()
    return [float(item["value"][1]) * 1000 for item in answer["data"]["result"]]


def summed_rss_mb(deployment: Deployment) -> dict[str, float]:
    """RSS (MB) summed over the sidecars, the apps and every other process."""
    sums = {"sidecar": 0.0, "service": 0.0, "other": 0.0}
    for process in deployment.processes:
        try:
            rss = psutil.Process(process.pid).memory_info().rss / 2**20
        except psutil.Error:
            continue
        sums[process.role if process.role in sums else "other"] += rss
    return sums


def measure_size(services: int, pushes: int, work: Path) -> list[dict[str, Any]]:
    """Up, pushes in both set-ups, scrape durations and RSS of one generated mesh, then
    down: a row per set-up."""
    topology = work / f"mesh-n{services}.yaml"
    topology.write_text(yaml.safe_dump(generated_topology(services)))
    load_before = os.getloadavg()[0]
    runtime, deployment, up_s = _up(topology, work / f"state-{services}")
    try:
        measured = measure_pushes(deployment, pushes)
        scrapes = scrape_ms(deployment.prometheus_url)
        rss = summed_rss_mb(deployment)
    finally:
        runtime.down(runtime.load(deployment.name))
    common = {
        "sidecars": services,
        "up_s": up_s,
        "scrape_p50_ms": percentile(np.asarray(scrapes), 0.50),
        "scrape_max_ms": max(scrapes, default=None),
        "sidecar_rss_mb": rss["sidecar"],
        "app_rss_mb": rss["service"],
        "other_rss_mb": rss["other"],
        "load_average_before": load_before,
        "load_average_1m": os.getloadavg()[0],
    }
    return [
        {
            **common,
            "scope": mode,
            **push_summary(measured[mode]["all"], "push"),
            **push_summary(measured[mode]["one"], "one"),
        }
        for mode in ("whole", "scoped")
    ]


def _up(topology: Path, state: Path) -> tuple[LocalRuntime, Deployment, float]:
    """The mesh up, and its wall time; a second try when the first fails (on this shared
    host another process can take a port between its allocation and its bind)."""
    from mesh_runtime.runtimes.local import LocalRuntime

    unwind_on_sigterm()  # a bench stopped with SIGTERM takes its mesh down
    for attempt in (1, 2):
        runtime = LocalRuntime(state_root=state / str(attempt), progress=lambda m: None)
        started = time.perf_counter()
        try:
            deployment = runtime.up(topology)
        except DeployError as exc:
            if attempt == 2:
                raise
            print(f"  up failed, once more: {str(exc).splitlines()[0]}", flush=True)
            continue
        return runtime, deployment, time.perf_counter() - started
    raise AssertionError("unreachable")


def mesh_size_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The curve's table and the biggest mesh's push p99 against the target."""
    title = "mesh size (generated call tree, local runtime; all: mesh-wide change, one: svc-1)"
    lines = curve_lines(title, COLUMNS, rows)
    big = biggest_scoped(rows)
    if big is not None:
        what = f"{big['sidecars']} sidecars: mesh-wide push p99 ({big.get('scope', 'scoped')})"
        lines.append(target_line(what, big["push_p99_s"], TARGET_P99_S, "s"))
    return lines


def biggest_scoped(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The row the target judges: the biggest mesh, scoped."""
    scoped = [row for row in rows if row.get("scope", "scoped") == "scoped"]
    return max(scoped, key=lambda row: row["sidecars"]) if scoped else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.mesh_size", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sidecars", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--pushes", type=int, default=PUSHES)
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="meshproof-bench-meshsize-") as tmp:
        for services in args.sidecars:
            rows += measure_size(services, args.pushes, Path(tmp))
            load = (
                f"load {rows[-1]['load_average_before']:.1f} -> {rows[-1]['load_average_1m']:.1f}"
            )
            print(f"  measured {services} sidecars ({load})", flush=True)
            print("\n".join(curve_lines("", COLUMNS, rows[-2:])), flush=True)
    print("\n".join(mesh_size_lines(rows)), flush=True)
    big = biggest_scoped(rows)
    return 0 if big is not None and (big["push_p99_s"] or 0.0) <= TARGET_P99_S else 1


if __name__ == "__main__":
    sys.exit(main())
