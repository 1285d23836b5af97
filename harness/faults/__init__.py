"""Fault injectors per kind, the on-disk fault ledger, and rollback from the ledger alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.errors import FaultError
from harness.faults.base import FaultContext, Injector
from harness.faults.behaviour import ServiceBehaviourInjector
from harness.faults.container import ContainerInjector
from harness.faults.ledger import LEDGER_FILE, FaultLedger, LedgerEntry, Registration, registrations
from harness.faults.mesh import MeshFaultInjector, PolicyInjector, TrafficSplitInjector
from harness.faults.network import ProxyDownInjector, ToxicInjector
from harness.faults.process import (
    ControlPlaneOutageInjector,
    ProcessKillInjector,
    ProcessPauseInjector,
    ProcessRestartInjector,
    RollingRestartInjector,
)
from harness.faults.rollback import Executor
from harness.spec.faults import FaultSpec

_INJECTORS: dict[str, Callable[[Any, FaultContext], Injector]] = {
    "toxic": ToxicInjector,
    "proxy_down": ProxyDownInjector,
    "mesh_fault": MeshFaultInjector,
    "policy": PolicyInjector,
    "traffic_split": TrafficSplitInjector,
    "service_behaviour": ServiceBehaviourInjector,
    "process_kill": ProcessKillInjector,
    "process_pause": ProcessPauseInjector,
    "process_restart": ProcessRestartInjector,
    "rolling_restart": RollingRestartInjector,
    "control_plane_outage": ControlPlaneOutageInjector,
    "container_kill": ContainerInjector,
    "container_pause": ContainerInjector,
    "container_restart": ContainerInjector,
    "network_disconnect": ContainerInjector,
}


def make_injector(fault: FaultSpec, ctx: FaultContext) -> Injector:
    """The injector for `fault`'s kind; its target is resolved (and checked) here."""
    factory = _INJECTORS.get(fault.kind)
    if factory is None:
        raise FaultError(f"fault {fault.name!r}: no injector for kind {fault.kind!r}")
    return factory(fault, ctx)


__all__ = [
    "LEDGER_FILE",
    "Executor",
    "FaultContext",
    "FaultLedger",
    "Injector",
    "LedgerEntry",
    "Registration",
    "make_injector",
    "registrations",
]
