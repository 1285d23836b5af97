"""Target rules for an external mesh (a target file): what each kind of fault may do to a
mesh meshproof did not deploy. Pure; each fault model picks its rule in its
`external_problem(target)` (as it picks its topology rule in `topology_problem`).

- the reference mesh's kinds (its control plane, sample services, processes, containers)
  cannot touch someone else's mesh: `reference_only_problem`;
- a network fault needs the target's Toxiproxy and a proxy on the edge: `proxy_problem`;
- a mesh's own API kinds (`istio_*`, `linkerd_*`, `consul_*`) need that mesh, and every
  Kubernetes kind a `kubernetes:` section allowing its namespace: `kubernetes_problem`.

A rule answers why the fault cannot act on `target`, or '' when it can.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mesh_runtime.target import TargetFile

MESH_OF_KIND_PREFIX: dict[str, tuple[str, ...]] = {
    "istio_": ("istio", "meshproof"),
    "linkerd_": ("linkerd",),
    "consul_": ("consul",),
}
"""A mesh's own fault kinds act on its API objects: Istio's also on the reference mesh,
whose control plane can read them."""


def reference_only_problem(kind: str, target: TargetFile) -> str:
    """A kind that acts on the reference mesh's own parts: never on an external mesh."""
    return (
        f"{kind} needs the reference mesh meshproof deploys (its control plane, sample"
        f" services, processes or containers); the target {target.name} is an external"
        f" {target.mesh} mesh: use network faults (toxic, proxy_down) or the mesh's own API"
    )


def proxy_problem(edge: str, target: TargetFile) -> str:
    """Why no Toxiproxy proxy of `target` stands on `edge` ('a->b' or 'a->b-1'), or ''."""
    if target.toxiproxy is None:
        return f"the target {target.name} has no Toxiproxy (toxiproxy: in its file)"
    proxies = target.toxiproxy.proxies
    source, _, destination = edge.partition("->")
    if any(p.edge == edge for p in proxies):
        return ""
    if any(p.instance == destination and p.edge.startswith(f"{source}->") for p in proxies):
        return ""
    endpoints = {f"{p.edge.partition('->')[0]}->{p.instance}" for p in proxies if p.instance}
    known = sorted({p.edge for p in proxies} | endpoints)
    listed = ", ".join(known) if known else "none"
    return f"no Toxiproxy proxy of the target {target.name} stands on {edge} (proxied: {listed})"


def mesh_api_problem(kind: str, target: TargetFile) -> str:
    """An `istio_*` / `linkerd_*` / `consul_*` kind on a mesh of another kind."""
    meshes = next((m for p, m in MESH_OF_KIND_PREFIX.items() if kind.startswith(p)), None)
    if meshes is None or target.mesh in meshes:
        return ""
    return f"{kind} changes {meshes[0]}'s API objects; the target {target.name} is a {target.mesh} mesh"


NamespaceRule = Callable[[Sequence[str]], "tuple[str, str] | None"]


def kubernetes_problem(
    kind: str, namespace_problem: NamespaceRule, target: TargetFile
) -> tuple[str, str] | None:
    """(field, why) a Kubernetes kind cannot act on `target`: another mesh's API, no
    `kubernetes:` section, or its namespace outside the list (`namespace_problem(allowed)`,
    the kind's own rule); None when it can."""
    other_mesh = mesh_api_problem(kind, target)
    if other_mesh:
        return "kind", other_mesh
    if target.kubernetes is None:
        return (
            "kind",
            f"{kind} goes through the Kubernetes API; the target {target.name} has no"
            " kubernetes: section",
        )
    return namespace_problem(target.kubernetes.namespaces)
