"""Prometheus for a deployment: the scrape config, and waiting until every target is up.

The config is built as data (`scrape_config`) and written as YAML; the server is the real
Prometheus binary, started by the supervisor like any other process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from mesh_runtime.errors import DeployError, ReadinessTimeout
from mesh_runtime.runtimes.deployment import InstanceRecord
from mesh_runtime.runtimes.readiness import Deadline, wait_until

SIDECAR_JOB = "meshproof-sidecars"
CONTROL_PLANE_JOB = "meshproof-control-plane"
SCRAPE_INTERVAL = "1s"
SCRAPE_TIMEOUT = "900ms"


@dataclass(frozen=True)
class TargetHealth:
    job: str
    instance: str
    health: str
    last_error: str


def prometheus_command(binary: str, config: Path, data: Path, port: int) -> list[str]:
    """The server's command line: loopback only, one day of retention, lifecycle API on."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
        "--web.enable-lifecycle",
    ]


def scrape_config(
    instances: Iterable[InstanceRecord], control_plane: str | None = None
) -> dict[str, Any]:
    """Prometheus config: every sidecar's admin /metrics, labelled instance/service/version.

    `control_plane` is the control plane's 'host:port' when it serves /metrics.
    """
    static = [
        {
            "targets": [f"127.0.0.1:{r.admin_port}"],
            "labels": {"instance": r.instance, "service": r.service, "version": r.version},
        }
        for r in instances
        if r.admin_port is not None
    ]
    jobs: list[dict[str, Any]] = [
        {"job_name": SIDECAR_JOB, "metrics_path": "/metrics", "static_configs": static}
    ]
    if control_plane:
        jobs.append(
            {
                "job_name": CONTROL_PLANE_JOB,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [control_plane]}],
            }
        )
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_TIMEOUT},
        "scrape_configs": jobs,
    }


def write_scrape_config(path: Path, config: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    except OSError as exc:
        raise DeployError(f"{path}: cannot write the Prometheus config: {exc.strerror}") from exc


def expected_targets(config: dict[str, Any]) -> int:
    return sum(
        len(group["targets"]) for job in config["scrape_configs"] for group in job["static_configs"]
    )


def parse_targets(payload: dict[str, Any]) -> list[TargetHealth]:
    """The active targets of a /api/v1/targets answer."""
    active = payload.get("data", {}).get("activeTargets", [])
    return [
        TargetHealth(
            job=str(t.get("labels", {}).get("job", "")),
            instance=str(t.get("labels", {}).get("instance", "")),
            health=str(t.get("health", "unknown")),
            last_error=str(t.get("lastError", "")),
        )
        for t in active
    ]


def scrape_times(payload: dict[str, Any]) -> list[float]:
    """The times of the samples of a `timestamp(up)` instant query's answer: each target's
    last scrape whose samples are in the database (`up` is committed with them)."""
    result = payload.get("data", {}).get("result", [])
    times = []
    for series in result:
        try:
            times.append(float(series["value"][1]))
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    return times


def all_up(targets: list[TargetHealth], expected: int) -> bool:
    return len(targets) >= expected and all(t.health == "up" for t in targets)


class PrometheusServer:
    """The Prometheus HTTP API of a running server, for the runtime's own checks."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def targets(self) -> list[TargetHealth]:
        try:
            response = requests.get(f"{self.base_url}/api/v1/targets", timeout=2.0)
            response.raise_for_status()
            return parse_targets(response.json())
        except (requests.RequestException, ValueError) as exc:
            raise DeployError(f"prometheus {self.base_url}: cannot list targets: {exc}") from exc

    def wait_for_targets_up(self, expected: int, timeout: float) -> list[TargetHealth]:
        """Wait until `expected` targets are active and every one is healthy."""
        seen: list[TargetHealth] = []

        def ready() -> bool:
            nonlocal seen
            seen = self.targets()
            return all_up(seen, expected)

        if wait_until(ready, Deadline.after(timeout), interval=0.1) != "ready":
            down = [
                f"{t.instance} ({t.health}: {t.last_error or 'not scraped yet'})"
                for t in seen
                if t.health != "up"
            ]
            raise ReadinessTimeout(
                f"prometheus {self.base_url}: {len(seen)}/{expected} targets after "
                f"{timeout:.0f}s; not up: {', '.join(down) or 'none listed'}"
            )
        return seen

    def scrape_times(self) -> list[float]:
        """Each target's last committed scrape (wall clock seconds)."""
        try:
            response = requests.get(
                f"{self.base_url}/api/v1/query", params={"query": "timestamp(up)"}, timeout=2.0
            )
            response.raise_for_status()
            return scrape_times(response.json())
        except (requests.RequestException, ValueError) as exc:
            raise DeployError(
                f"prometheus {self.base_url}: cannot read scrape times: {exc}"
            ) from exc

    def wait_for_scrapes_after(self, when: float, timeout: float) -> float | None:
        """Wait (bounded) until every target's last scrape in the database, failed or not,
        began at or after `when` (wall clock): its samples then hold everything up to
        `when`. The latest of those scrapes' times; None on timeout."""
        seen: list[float] = []

        def scraped() -> bool:
            nonlocal seen
            seen = self.scrape_times()
            return bool(seen) and min(seen) >= when

        if wait_until(scraped, Deadline.after(timeout), interval=0.1) != "ready":
            return None
        return max(seen)
