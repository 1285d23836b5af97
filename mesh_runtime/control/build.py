"""Topology + allocated addresses -> the first MeshConfig the control plane serves."""

from __future__ import annotations

from collections.abc import Mapping

from mesh_runtime.config.mesh import Endpoint, MeshConfig, ServiceEntry
from mesh_runtime.errors import InvalidInput
from mesh_runtime.topology import Instance, Topology

_SOURCE = "mesh plan"


def build_mesh_config(
    topology: Topology,
    inbound: Mapping[str, str],
    via: Mapping[tuple[str, str], str],
    *,
    version: int = 1,
) -> MeshConfig:
    """The mesh configuration for `topology`.

    Each service's `egress` (its sidecars' scope) is what it calls; the ingress's also
    every grpc and tcp service, which the load reaches through its gateway and TCP
    listeners (mesh_runtime.runtimes.plan).

    `inbound` maps instance name -> "host:port" of that instance's sidecar inbound listener;
    `via` maps (source service, destination instance) -> "host:port" of the Toxiproxy proxy
    in front of that endpoint for that source. Policies and mesh settings come from the
    topology. A missing inbound address or a `via` entry naming nothing is an InvalidInput.
    """
    instances = topology.instances()
    _check_via(topology, instances, via)
    services: dict[str, ServiceEntry] = {}
    for name, spec in topology.services.items():
        endpoints = [
            _endpoint(instance, inbound, via) for instance in instances if instance.service == name
        ]
        services[name] = ServiceEntry(
            name=name,
            protocol=spec.protocol,
            endpoints=endpoints,
            policy=spec.policy,
            egress=egress(topology, name),
        )
    return MeshConfig(version=version, mesh=topology.mesh, services=services)


def egress(topology: Topology, service: str) -> list[str]:
    """The services `service`'s sidecars send to: its calls; on the ingress also every
    service the load enters through it (gRPC through its gateway, TCP listeners)."""
    hosts = set(topology.services[service].calls)
    if service == topology.ingress:
        hosts |= {n for n, s in topology.services.items() if s.protocol in ("grpc", "tcp")}
    hosts.discard(service)
    return sorted(hosts)


def _endpoint(
    instance: Instance, inbound: Mapping[str, str], via: Mapping[tuple[str, str], str]
) -> Endpoint:
    address = inbound.get(instance.name)
    if not address:
        raise InvalidInput(_SOURCE, f"inbound.{instance.name}", "no inbound address given")
    proxies = {source: listen for (source, dest), listen in via.items() if dest == instance.name}
    return Endpoint(
        instance=instance.name,
        version=instance.version,
        address=address,
        via=dict(sorted(proxies.items())),
    )


def _check_via(
    topology: Topology, instances: list[Instance], via: Mapping[tuple[str, str], str]
) -> None:
    by_name = {instance.name: instance for instance in instances}
    for source, destination in via:
        target = by_name.get(destination)
        where = f"via[{source}->{destination}]"
        if target is None:
            raise InvalidInput(_SOURCE, where, f"unknown instance {destination!r}")
        if source not in topology.services or target.service not in topology.services[source].calls:
            raise InvalidInput(_SOURCE, where, f"{source} does not call {target.service}")
