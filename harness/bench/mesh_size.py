"""Mesh size: what `up` and a control-plane push cost as the number of sidecars grows.

    python -m harness.bench.mesh_size [--sidecars 10 30 60 100] [--pushes 5]

Per size N, a generated topology of N services with one instance each (a binary call
tree from `svc-0`, the ingress; N sidecars, N apps) goes up on the local runtime. Then,
`--pushes` times, one policy change (svc-0's route timeout) goes to the control plane and
each sidecar's time from that API call to its admin `/config_dump` reporting the new
config version is taken (every sidecar polled on its own by one asyncio client, every
`poll_interval_s(N)`: 20 ms, longer for big meshes so that the polls, each a whole config
dump, stay at most POLLS_PER_S in all and do not become the work measured; a time is late
by at most about one interval plus one answer): p50 / p99 / max over
every sidecar and push. Also: the `up` wall time, Prometheus' own `scrape_duration_seconds`
of the sidecars (p50 / max), and the summed RSS of the sidecars, the apps and the rest.
Target: push p99 <= 1 s at 100 sidecars. The load average is printed beside each row:
on a shared 2-core machine the big sizes measure the machine as much as the mesh.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import requests
import yaml

from harness.analysis.stats import percentile
from harness.bench.curves import CurveColumn, curve_lines, target_line
from mesh_runtime.runtimes.admin import admin_headers
from mesh_runtime.runtimes.deployment import Deployment

SIZES = (10, 30, 60, 100)
PUSHES = 5
POLL_S = 0.02
POLLS_PER_S = 1000.0
PUSH_TIMEOUT_S = 30.0
TARGET_P99_S = 1.0
COLUMNS = (
    CurveColumn("sidecars", "sidecars"),
    CurveColumn("up_s", "up s", "{:.1f}"),
    CurveColumn("push_p50_s", "push p50 s", "{:.3f}"),
    CurveColumn("push_p99_s", "push p99 s", "{:.3f}"),
    CurveColumn("push_max_s", "push max s", "{:.3f}"),
    CurveColumn("poll_ms", "poll ms", "{:.0f}"),
    CurveColumn("scrape_p50_ms", "scrape p50 ms", "{:.1f}"),
    CurveColumn("scrape_max_ms", "scrape max ms", "{:.1f}"),
    CurveColumn("sidecar_rss_mb", "sidecars RSS MB", "{:.0f}"),
    CurveColumn("app_rss_mb", "apps RSS MB", "{:.0f}"),
    CurveColumn("other_rss_mb", "rest RSS MB", "{:.0f}"),
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


def push_times(seen: dict[str, float], started: float) -> list[float]:
    """Each sidecar's seconds from the change to its first dump with the new version."""
    return [at - started for at in seen.values()]


def poll_interval_s(sidecars: int) -> float:
    """How often each sidecar's dump is read: POLL_S, or less often when that would be more
    than POLLS_PER_S dumps a second in all."""
    return max(POLL_S, sidecars / POLLS_PER_S)


async def _watch(
    url: str, headers: dict[str, str], version: int, deadline: float, poll_s: float
) -> float:
    """The perf_counter time `url` first reports config `version` or newer."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=2.0)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        while time.perf_counter() < deadline:
            try:
                async with session.get(url) as response:
                    document = await response.json()
                    now = time.perf_counter()
                if int(document.get("version", -1)) >= version:
                    return now
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass
            await asyncio.sleep(poll_s)
    raise TimeoutError(f"{url} did not report config version {version}")


async def _push_once(deployment: Deployment, service: str, timeout_s: str) -> list[float]:
    from mesh_runtime.control.client import ControlPlaneClient

    headers = admin_headers(deployment.admin_token_file)
    assert deployment.control_url is not None
    client = ControlPlaneClient(deployment.control_url, deployment.control_token)
    patch = {"http": [{"name": "default", "timeout": timeout_s}]}
    started = time.perf_counter()
    version = await asyncio.to_thread(client.patch_policy, service, patch)
    deadline = started + PUSH_TIMEOUT_S
    urls = {
        r.instance: f"http://127.0.0.1:{r.admin_port}/config_dump" for r in deployment.instances
    }
    poll_s = poll_interval_s(len(urls))
    watched = [_watch(url, headers, version, deadline, poll_s) for url in urls.values()]
    seen = dict(zip(urls, await asyncio.gather(*watched), strict=True))
    client.close()
    return push_times(seen, started)


def measure_pushes(deployment: Deployment, pushes: int) -> list[float]:
    """Every sidecar's push time of `pushes` changes, one after another."""
    seconds: list[float] = []
    for i in range(pushes):
        seconds += asyncio.run(_push_once(deployment, "svc-0", f"{10 + i}s"))
    return seconds


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


def measure_size(services: int, pushes: int, work: Path) -> dict[str, Any]:
    """Up, pushes, scrape durations and RSS of one generated mesh, then down."""
    from mesh_runtime.runtimes.local import LocalRuntime

    topology = work / f"mesh-n{services}.yaml"
    topology.write_text(yaml.safe_dump(generated_topology(services)))
    runtime = LocalRuntime(state_root=work / f"state-{services}", progress=lambda m: None)
    started = time.perf_counter()
    deployment = runtime.up(topology)
    up_s = time.perf_counter() - started
    try:
        push = measure_pushes(deployment, pushes)
        scrapes = scrape_ms(deployment.prometheus_url)
        rss = summed_rss_mb(deployment)
    finally:
        runtime.down(runtime.load(deployment.name))
    return {
        "sidecars": services,
        "up_s": up_s,
        "push_p50_s": percentile(np.asarray(push), 0.50),
        "push_p99_s": percentile(np.asarray(push), 0.99),
        "push_max_s": max(push),
        "push_samples": len(push),
        "poll_ms": poll_interval_s(services) * 1000,
        "scrape_p50_ms": percentile(np.asarray(scrapes), 0.50),
        "scrape_max_ms": max(scrapes, default=None),
        "sidecar_rss_mb": rss["sidecar"],
        "app_rss_mb": rss["service"],
        "other_rss_mb": rss["other"],
        "load_average_1m": os.getloadavg()[0],
    }


def mesh_size_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The curve's table and the biggest mesh's push p99 against the target."""
    title = "mesh size (generated call tree, local runtime)"
    lines = curve_lines(title, COLUMNS, rows)
    if rows:
        big = max(rows, key=lambda row: row["sidecars"])
        what = f"{big['sidecars']} sidecars: push p99"
        lines.append(target_line(what, big["push_p99_s"], TARGET_P99_S, "s"))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.mesh_size", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sidecars", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--pushes", type=int, default=PUSHES)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="meshproof-bench-meshsize-") as tmp:
        for services in args.sidecars:
            rows.append(measure_size(services, args.pushes, Path(tmp)))
            print(f"  measured {services} sidecars", flush=True)
    print("\n".join(mesh_size_lines(rows)), flush=True)
    big = max(rows, key=lambda row: row["sidecars"])
    return 0 if (big["push_p99_s"] or 0.0) <= TARGET_P99_S else 1


if __name__ == "__main__":
    sys.exit(main())
