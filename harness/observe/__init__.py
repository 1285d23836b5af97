"""Observers of a run: Prometheus range queries (or the built-in scraper where there is no
Prometheus), a psutil resource sampler, the spans the trace sink received, and the host's
disturbance probe.

The public names are imported on first use (PEP 562), so the probe process
(`python -m harness.observe.probe`) loads neither pandas nor the Prometheus client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_exports

if TYPE_CHECKING:
    from harness.observe.builtin_scraper import BuiltinScraper, ScrapeTarget, sidecar_targets
    from harness.observe.host_probe import HostProbe
    from harness.observe.prometheus import DEFAULT_QUERIES, PrometheusObserver
    from harness.observe.resources import ResourceSampler
    from harness.observe.traces import read_spans

_HOMES = {
    "DEFAULT_QUERIES": "prometheus",
    "BuiltinScraper": "builtin_scraper",
    "HostProbe": "host_probe",
    "PrometheusObserver": "prometheus",
    "ResourceSampler": "resources",
    "ScrapeTarget": "builtin_scraper",
    "read_spans": "traces",
    "sidecar_targets": "builtin_scraper",
}

__all__ = [
    "DEFAULT_QUERIES",
    "BuiltinScraper",
    "HostProbe",
    "PrometheusObserver",
    "ResourceSampler",
    "ScrapeTarget",
    "read_spans",
    "sidecar_targets",
]


__getattr__ = lazy_exports(__name__, _HOMES)
