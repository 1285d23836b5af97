"""PeerAuthentication and AuthorizationPolicy (security.istio.io/v1) -> the reference mesh's
mTLS modes and authorization policies.

A policy applies to the services its `selector.matchLabels.app` names, or to every
service of the namespace without a selector (a namespace-wide PeerAuthentication sets
the mesh's mode). Where a field cannot be carried out the reference mesh fails closed, as
Istio does for a rule it cannot enforce: an ALLOW rule with such a condition is left out
(it allows less), a DENY rule is kept without it (it denies more). An action other than
ALLOW / DENY (AUDIT, CUSTOM) or a policy attached by `targetRef(s)` is left out whole.
Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from mesh_runtime.control.istio.fields import Fields
from mesh_runtime.control.istio.kinds import APP_LABEL, describe
from mesh_runtime.control.istio.report import Report

MTLS_MODES = ("DISABLE", "PERMISSIVE", "STRICT")
SOURCE_FIELDS = ("principals", "notPrincipals")
OPERATION_FIELDS = ("methods", "notMethods", "paths", "notPaths")


@dataclass(frozen=True)
class Selected:
    """Whom a policy applies to: `services`, or the whole namespace when `everyone`."""

    services: tuple[str, ...]
    everyone: bool


@dataclass(frozen=True)
class PeerMode:
    label: str
    selected: Selected
    mode: str | None
    """DISABLE / PERMISSIVE / STRICT; None (UNSET) inherits."""


@dataclass(frozen=True)
class Authorization:
    label: str
    selected: Selected
    policy: dict[str, Any]
    """Shaped as `AuthorizationPolicy`."""


def selected(
    spec: Fields, label: str, services: Collection[str], report: Report
) -> Selected | None:
    """Whom `spec.selector` selects; None when it selects no service of the mesh."""
    selector = spec.obj("selector")
    if selector is None:
        return Selected((), everyone=True)
    labels = selector.value("matchLabels") or {}
    for other in (key for key in labels if key != APP_LABEL):
        report.field(label, selector.at("matchLabels"), f"label {other!r} (only 'app' selects)")
    app = labels.get(APP_LABEL)
    if app not in services:
        report.problem(label, f"spec.selector: selects no service of this mesh ({labels})")
        return None
    return Selected((str(app),), everyone=False)


def peer_authentication(
    obj: Mapping[str, Any], services: Collection[str], report: Report
) -> PeerMode | None:
    label = describe(obj)
    spec = Fields(obj.get("spec") or {}, "spec")
    chosen = selected(spec, label, services, report)
    mtls = spec.obj("mtls")
    mode = mtls.value("mode") if mtls is not None else None
    if mode not in (*MTLS_MODES, None, "UNSET"):
        report.problem(label, f"spec.mtls.mode: unknown mode {mode!r}")
        mode = None
    report.unread(label, spec)
    if chosen is None:
        return None
    return PeerMode(label, chosen, None if mode == "UNSET" else mode)


def authorization_policy(
    obj: Mapping[str, Any], services: Collection[str], report: Report
) -> Authorization | None:
    label = describe(obj)
    spec = Fields(obj.get("spec") or {}, "spec")
    action = spec.value("action") or "ALLOW"
    attached = [key for key in ("targetRef", "targetRefs") if key in spec]
    if action not in ("ALLOW", "DENY") or attached:
        what = f"spec.{attached[0]}" if attached else f"spec.action: {action!r}"
        report.field(label, what, "not implemented (the policy is left out)")
        spec.take_unread()
        return None
    chosen = selected(spec, label, services, report)
    rules = [rule for rule in (_rule(r, action, label, report) for r in spec.objs("rules")) if rule]
    report.unread(label, spec)
    if chosen is None:
        return None
    name = str((obj.get("metadata") or {}).get("name") or "default")
    return Authorization(label, chosen, {"name": name, "action": action, "rules": rules})


def _rule(rule: Fields, action: str, label: str, report: Report) -> dict[str, Any] | None:
    sources = [_part(f, "source", SOURCE_FIELDS) for f in rule.objs("from")]
    operations = [_part(t, "operation", OPERATION_FIELDS) for t in rule.objs("to")]
    if action == "ALLOW":
        left = rule.take_unread()
        for path in left:
            report.field(label, path, "cannot be checked (this ALLOW rule is left out)")
        if left:
            return None
    else:
        report.unread(label, rule, "this DENY rule applies without it")
    return {"from": [{"source": s} for s in sources], "to": [{"operation": o} for o in operations]}


def _part(entry: Fields, key: str, names: tuple[str, ...]) -> dict[str, Any]:
    inner = entry.obj(key)
    if inner is None:
        return {}
    return {name: inner.value(name) for name in names if name in inner}
