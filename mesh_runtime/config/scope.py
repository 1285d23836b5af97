"""What each sidecar needs of the mesh config: its own service and the ones it sends to.

Istio's `Sidecar` resource limits a workload's configuration to its egress hosts, and
Istio pushes a change only to the proxies whose configuration it touches. Here a service's
`egress` list is that scope: its sidecars get their own entry (inbound mTLS mode,
authorization, protocol) and their egress services' entries (routes, splits, retries,
endpoints), with the mesh settings. Pure functions; the control plane keeps the versions.
"""

from __future__ import annotations

from collections.abc import Set

from mesh_runtime.config.mesh import MeshConfig

Scope = frozenset[str] | None
"""Service names a sidecar needs; None: the whole configuration."""


def scope_of(config: MeshConfig, service: str | None) -> Scope:
    """The services the sidecars of `service` need; None (all) when the service is not in
    `config` or has no egress list."""
    entry = config.services.get(service) if service is not None else None
    if entry is None or entry.egress is None:
        return None
    return frozenset(name for name in (service, *entry.egress) if name in config.services)


def scoped_config(config: MeshConfig, service: str | None) -> MeshConfig:
    """`config` as the sidecars of `service` get it: same version and mesh settings, only
    the entries of its scope."""
    scope = scope_of(config, service)
    if scope is None:
        return config
    services = {name: entry for name, entry in config.services.items() if name in scope}
    return config.model_copy(update={"services": services})


SIDECAR_VIEW = {"services": {"__all__": {"egress"}}}
"""What a sidecar's pushed config leaves out: the egress lists are the control plane's
business (the scope is already applied), and a sidecar from before the field existed
refuses unknown fields (a control plane newer than its sidecars: a rolling upgrade,
`validate-upgrade`, `bench --baseline`)."""


def sidecar_json(config: MeshConfig, service: str | None) -> bytes:
    """The body a sidecar of `service` gets: its scope of `config`, without egress lists."""
    return scoped_config(config, service).model_dump_json(exclude=SIDECAR_VIEW).encode()


def changed_services(old: MeshConfig, new: MeshConfig) -> frozenset[str] | None:
    """Names of the services whose entries differ (added, removed or changed) between the
    two; None when the mesh settings differ (every sidecar is concerned)."""
    if old.mesh != new.mesh:
        return None
    names = old.services.keys() | new.services.keys()
    return frozenset(
        name
        for name in names
        if old.services.get(name) is not new.services.get(name)
        and old.services.get(name) != new.services.get(name)
    )


def concerned(
    service: str | None, changed: Set[str] | None, old: MeshConfig, new: MeshConfig
) -> bool:
    """Whether the sidecars of `service` need `new` after running `old`, when `changed`
    services (None: everything) differ between the two. Both scopes count: a service
    dropped from the mesh or from the egress list concerns the sidecars that had it."""
    if changed is None:
        return True
    if not changed:
        return False
    before, after = scope_of(old, service), scope_of(new, service)
    if before is None or after is None:
        return True
    return not (before | after).isdisjoint(changed)
