"""Linkerd faults: retry / timeout annotations, and an HTTPRoute's weighted backends. Pure.

Linkerd 2.16+ reads retries and timeouts from annotations on a Service, or on an HTTPRoute
whose parent is a Service (the route's override the Service's): `retry.linkerd.io/http`
(status codes to retry, e.g. `5xx`), `retry.linkerd.io/grpc`, `retry.linkerd.io/limit`
(retries per request, default 1), `retry.linkerd.io/timeout` (per try),
`timeout.linkerd.io/request`, `timeout.linkerd.io/response`, `timeout.linkerd.io/idle`.
Linkerd's documented way to inject faults is an HTTPRoute splitting traffic between the
real backend and a failing one by `backendRefs[].weight`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from harness.errors import FaultError
from harness.kube.state import KubeModel
from mesh_runtime.units import format_duration, parse_duration

DURATION_ANNOTATIONS = frozenset(
    {
        "retry.linkerd.io/timeout",
        "timeout.linkerd.io/request",
        "timeout.linkerd.io/response",
        "timeout.linkerd.io/idle",
    }
)
ANNOTATIONS = DURATION_ANNOTATIONS | {
    "retry.linkerd.io/http",
    "retry.linkerd.io/grpc",
    "retry.linkerd.io/limit",
}
NOT_ON_HTTP_ROUTE = frozenset({"retry.linkerd.io/grpc"})


class LinkerdPolicyParams(KubeModel):
    """linkerd_policy: Linkerd's retry / timeout annotations to set (null removes one)."""

    annotations: dict[str, str | int | None]

    @field_validator("annotations")
    @classmethod
    def _known(cls, value: dict[str, str | int | None]) -> dict[str, str | int | None]:
        unknown = sorted(set(value) - ANNOTATIONS)
        if not value or unknown:
            raise ValueError(
                f"expected Linkerd's annotations ({', '.join(sorted(ANNOTATIONS))})"
                + (f"; not {', '.join(unknown)}" if unknown else "")
            )
        return {key: _annotation_value(key, v) for key, v in value.items()}


class LinkerdRouteSplitParams(KubeModel):
    """linkerd_route_split: one HTTPRoute rule's backends and their weights."""

    rule: int = Field(0, ge=0)
    """Which of the route's rules (0: the first)."""
    backends: dict[str, int]
    """Service name -> weight, e.g. {catalog: 90, error-injector: 10}."""
    port: int | None = Field(None, ge=1, le=65535)
    """The backends' port; the rule's first backendRef's when none."""

    @field_validator("backends")
    @classmethod
    def _weights(cls, value: dict[str, int]) -> dict[str, int]:
        if not value or min(value.values()) < 0 or sum(value.values()) == 0:
            raise ValueError("expected Service weights, like {catalog: 90, error-injector: 10}")
        return value


def annotations_patch(params: LinkerdPolicyParams, kind: str) -> dict[str, Any]:
    """The patch setting (or removing) the annotations on a Service or an HTTPRoute."""
    misplaced = sorted(set(params.annotations) & NOT_ON_HTTP_ROUTE) if kind == "HTTPRoute" else []
    if misplaced:
        raise FaultError(f"{', '.join(misplaced)} is not valid on an HTTPRoute (Linkerd's docs)")
    return {"metadata": {"annotations": dict(params.annotations)}}


def route_split_patch(route: dict[str, Any], params: LinkerdRouteSplitParams) -> dict[str, Any]:
    """The patch giving the chosen rule the backends and weights of `params`."""
    rules = list((route.get("spec") or {}).get("rules") or [])
    metadata = route.get("metadata") or {}
    where = f"HTTPRoute {metadata.get('namespace')}/{metadata.get('name')}"
    if params.rule >= len(rules):
        raise FaultError(f"{where} has {len(rules)} rule(s); no rule {params.rule}")
    current = list(rules[params.rule].get("backendRefs") or [])
    port = params.port or (current[0].get("port") if current else None)
    if port is None:
        raise FaultError(f"{where}: rule {params.rule} names no backend port; give `port`")
    backends = [
        {"group": "", "kind": "Service", "name": name, "port": port, "weight": weight}
        for name, weight in params.backends.items()
    ]
    changed = [
        {**rule, "backendRefs": backends} if index == params.rule else rule
        for index, rule in enumerate(rules)
    ]
    return {"spec": {"rules": changed}}


def _annotation_value(key: str, value: str | int | None) -> str | None:
    if value is None:
        return None
    if key in DURATION_ANNOTATIONS:
        return format_duration(parse_duration(value))
    if key == "retry.linkerd.io/limit":
        if isinstance(value, bool) or not str(value).isdigit():
            raise ValueError(f"{key}: expected a whole number of retries, got {value!r}")
        return str(int(value))
    return str(value)
