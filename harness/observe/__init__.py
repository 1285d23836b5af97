"""Observers of a run: Prometheus range queries (or the built-in scraper where there is no
Prometheus), a psutil resource sampler, the spans the trace sink received, and the host's
disturbance probe.

The public names are imported on first use (PEP 562), so the probe process
(`python -m harness.observe.probe`) loads neither pandas nor the Prometheus client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.observe.builtin_scraper import BuiltinScraper, ScrapeTarget, sidecar_targets
    from harness.observe.host_probe import HostProbe
    from harness.observe.prometheus import DEFAULT_QUERIES, PrometheusObserver
    from harness.observe.resources import ResourceSampler
    from harness.observe.traces import read_spans

_WHERE = {
    "DEFAULT_QUERIES": "harness.observe.prometheus",
    "BuiltinScraper": "harness.observe.builtin_scraper",
    "HostProbe": "harness.observe.host_probe",
    "PrometheusObserver": "harness.observe.prometheus",
    "ResourceSampler": "harness.observe.resources",
    "ScrapeTarget": "harness.observe.builtin_scraper",
    "read_spans": "harness.observe.traces",
    "sidecar_targets": "harness.observe.builtin_scraper",
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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.observe' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
