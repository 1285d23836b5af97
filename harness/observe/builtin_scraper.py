"""A stand-in for Prometheus where no Prometheus binary exists: scrape every sidecar's
`/metrics` once a second and keep the raw samples as long-form rows.

Used only then, and the run records `metrics_source: "builtin-scraper"`. The rows are the
raw-counter rows the Prometheus observer also produces (`meshproof_retries_total`, ...),
labelled as Prometheus would label them: the target's labels (job, instance, service,
version) added, and a sample label that collides with one of them renamed `exported_<name>`
(Prometheus's honor_labels: false).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import requests
from prometheus_client.parser import text_string_to_metric_families

from harness.observe.dialects.meshproof import TCP_METRICS
from harness.observe.rows import finite, frame, make_row
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.prometheus import SIDECAR_JOB

RAW_METRICS = frozenset(
    {
        "istio_requests_total",
        "meshproof_retries_total",
        "meshproof_outlier_ejections_total",
        "meshproof_overflow_total",
        "meshproof_config_version",
        "meshproof_upstream_active_requests",
        *TCP_METRICS,
    }
)


@dataclass(frozen=True)
class ScrapeTarget:
    url: str
    labels: Mapping[str, str] = field(default_factory=dict)


def sidecar_targets(deployment: Deployment) -> list[ScrapeTarget]:
    """Every sidecar's admin /metrics, labelled as the Prometheus scrape config labels it."""
    return [
        ScrapeTarget(
            url=f"http://127.0.0.1:{r.admin_port}/metrics",
            labels={
                "job": SIDECAR_JOB,
                "instance": r.instance,
                "service": r.service,
                "version": r.version,
            },
        )
        for r in deployment.instances
        if r.admin_port is not None
    ]


def parse_samples(
    text: str, target_labels: Mapping[str, str], t_s: float, wanted: frozenset[str] = RAW_METRICS
) -> list[dict[str, Any]]:
    """Rows from one scrape's exposition text; unparseable text gives no rows."""
    rows = []
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError:
        return []
    for family in families:
        for sample in family.samples:
            if sample.name not in wanted or not finite(sample.value):
                continue
            labels = {
                (f"exported_{k}" if k in target_labels else k): v for k, v in sample.labels.items()
            }
            labels.update(target_labels)
            rows.append(make_row(t_s, sample.name, labels, float(sample.value)))
    return rows


class BuiltinScraper:
    """Scrapes `targets` every `interval` seconds in a background thread."""

    def __init__(
        self,
        targets: Iterable[ScrapeTarget],
        *,
        t0: float,
        interval: float = 1.0,
        timeout: float = 0.9,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._targets = list(targets)
        self._t0 = t0
        self._interval = interval
        self._timeout = timeout
        self._clock = clock
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="builtin-scraper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + self._timeout * len(self._targets) + 5)
            self._thread = None
        self._session.close()

    def scrape(self) -> int:
        """Scrape every target once; the number of targets that answered."""
        answered = 0
        for target in self._targets:
            try:
                response = self._session.get(target.url, timeout=self._timeout)
            except requests.RequestException:
                continue  # a target down (killed, paused) is a gap, as in Prometheus
            if response.status_code != 200:
                continue
            answered += 1
            rows = parse_samples(response.text, target.labels, self._clock() - self._t0)
            with self._lock:
                self._rows.extend(rows)
        return answered

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rows)

    def frame(self, start: float | None = None, end: float | None = None) -> pd.DataFrame:
        """The metrics table, optionally only rows with `start <= t_s <= end`."""
        rows = [
            r
            for r in self.rows()
            if (start is None or r["t_s"] >= start) and (end is None or r["t_s"] <= end)
        ]
        return frame(rows)

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            self.scrape()
            next_at += self._interval
            if next_at < time.monotonic():
                next_at = time.monotonic() + self._interval
