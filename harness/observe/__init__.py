"""Observers of a run: Prometheus range queries (or the built-in scraper where there is no
Prometheus), a psutil resource sampler, and the spans the trace sink received."""

from harness.observe.builtin_scraper import BuiltinScraper, ScrapeTarget, sidecar_targets
from harness.observe.prometheus import DEFAULT_QUERIES, PrometheusObserver
from harness.observe.resources import ResourceSampler
from harness.observe.traces import read_spans

__all__ = [
    "DEFAULT_QUERIES",
    "BuiltinScraper",
    "PrometheusObserver",
    "ResourceSampler",
    "ScrapeTarget",
    "read_spans",
    "sidecar_targets",
]
