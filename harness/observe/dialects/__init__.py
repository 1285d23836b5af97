"""Metric dialects: the harness's signals as PromQL for each mesh's metric names.

    from harness.observe.dialects import dialect_for
    bound = dialect_for("linkerd").bind({"namespace": "shop"})
    bound.query("edge_requests")      # PromQL text, also the rows' `metric` key
    bound.no_data("overflows")        # "linkerd metrics: Linkerd has no ..." or None

One module per mesh (`istio`, `linkerd`, `consul`, `meshproof`), each a pure mapping;
`base` says what a signal, a query and NoData are.
"""

from __future__ import annotations

from harness.observe.dialects.base import (
    COUNTED,
    COUNTER_SIGNALS,
    DESTINATION,
    FLAGS,
    SERVICE,
    SIGNALS,
    SOURCE,
    BoundDialect,
    Dialect,
    NoData,
    Query,
    Signal,
    unseen_reason,
)
from harness.observe.dialects.consul import CONSUL
from harness.observe.dialects.istio import ISTIO
from harness.observe.dialects.linkerd import LINKERD
from harness.observe.dialects.meshproof import MESHPROOF
from mesh_runtime.errors import InvalidInput

DIALECTS: dict[str, Dialect] = {d.name: d for d in (ISTIO, LINKERD, CONSUL, MESHPROOF)}
"""By the target file's `mesh` value."""


REFERENCE_MESH_DIALECTS: dict[str, Dialect] = {
    "istio": MESHPROOF,
    "linkerd": LINKERD,
    "envoy": CONSUL,
}
"""The reference mesh's sidecars' `--metrics-dialect` (topology `metrics.dialect`) -> the
dialect that reads it: Istio's names are read as `meshproof` (its own counters too)."""


def reference_mesh_dialect(sidecar_dialect: str) -> Dialect:
    """The dialect that reads the reference mesh's sidecars in `sidecar_dialect`."""
    return REFERENCE_MESH_DIALECTS.get(sidecar_dialect, MESHPROOF)


def dialect_for(mesh: str) -> Dialect:
    """The dialect of a target's `mesh` (istio | linkerd | consul | meshproof)."""
    try:
        return DIALECTS[mesh]
    except KeyError:
        known = " | ".join(DIALECTS)
        raise InvalidInput("target", "mesh", f"expected {known}, got {mesh!r}") from None


__all__ = [
    "CONSUL",
    "COUNTED",
    "COUNTER_SIGNALS",
    "DESTINATION",
    "DIALECTS",
    "FLAGS",
    "ISTIO",
    "LINKERD",
    "MESHPROOF",
    "REFERENCE_MESH_DIALECTS",
    "SERVICE",
    "SIGNALS",
    "SOURCE",
    "BoundDialect",
    "Dialect",
    "NoData",
    "Query",
    "Signal",
    "dialect_for",
    "reference_mesh_dialect",
    "unseen_reason",
]
