"""Injectors of the Kubernetes fault kinds (harness.spec.kube_faults), and their rollback.

Each injector works on the objects of one namespace, through a KubeClient for the target
file's kubeconfig and context (`KubePlace`). Built by the registry
(harness.faults.kube_place.in_place) before the run starts, it is checked then: every call
it will make is allowed by RBAC (SelfSubjectAccessReview), the object is there and its
patch builds; else one line, nothing changed. In the engine's order:

    rollback_entry()  GET the object(s), build the merge patch (harness.kube.patches), and
                      return steps holding the full snapshot: the ledger has it first
    apply()           PATCH with the snapshot's resourceVersion (a concurrent edit: 409,
                      the fault fails with one line, nothing overwritten), marked with
                      the annotation `meshproof.io/fault: <run>/<fault>`
    revert()          GET, check nobody changed it since, PUT the snapshot back exactly
                      (or DELETE the object the fault created)

`restore_kube_object` steps carry the snapshot, the patch and the kubeconfig's path and
context (never a credential), so `meshproof recover` undoes the fault from the ledger
alone; `recover --force` restores even an object someone changed since. A pod_delete is
undone by the pods' controller (it makes replacements); its `kube_pod_deleted` steps
only say so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import FaultError
from harness.faults.kube_place import KubeLogin, KubePlace
from harness.faults.steps import RollbackEntry, RollbackStep, StepKind, StepTools
from harness.kube.changes import ObjectChange, apply, read_or_absent, restore
from harness.kube.patches import consul, istio, linkerd, workloads
from harness.kube.state import ObjectRef, ObjectState, Snapshot
from harness.kube.targets import (
    CONSUL_OBJECTS,
    HTTP_ROUTE_OBJECTS,
    ISTIO_POLICY_OBJECTS,
    LINKERD_POLICY_OBJECTS,
    object_target,
)
from harness.spec.kube_faults import (
    ConsulPolicyFault,
    DeploymentScaleFault,
    IstioFaultFault,
    IstioPolicyFault,
    IstioTrafficSplitFault,
    KubeFaultBase,
    LinkerdPolicyFault,
    LinkerdRouteSplitFault,
    PodDeleteFault,
)
from mesh_runtime.kube.resources import DEPLOYMENT, DESTINATION_RULE, POD, VIRTUAL_SERVICE, Resource

if TYPE_CHECKING:  # the client imports the `kubernetes` package: loaded when a fault needs it
    from mesh_runtime.kube.client import KubeClient


class RestoreKubeObject(RollbackStep):
    action: Literal["restore_kube_object"] = "restore_kube_object"
    login: KubeLogin
    change: ObjectChange

    def describe(self) -> str:
        if not self.change.snapshot.existed:
            return f"delete {self.change.ref} (meshproof created it)"
        return f"restore {self.change.ref} to its snapshot"


def restore_kube_object(step: RestoreKubeObject, tools: StepTools) -> None:
    restore(step.login.client(tools), step.change, force=tools.force)


class KubePodDeleted(RollbackStep):
    action: Literal["kube_pod_deleted"] = "kube_pod_deleted"
    snapshot: Snapshot
    """The pod as it was read before it was deleted."""
    controller: str

    def describe(self) -> str:
        ref = self.snapshot.ref
        return f"pod {ref.namespace}/{ref.name} was deleted: {self.controller} replaces it"


def pod_deleted(step: KubePodDeleted, tools: StepTools) -> None:
    """A deleted pod is replaced by its controller; nothing is left for meshproof to do."""


RESTORE_KUBE_OBJECT = StepKind(RestoreKubeObject, restore_kube_object)
KUBE_POD_DELETED = StepKind(KubePodDeleted, pod_deleted)


class ObjectFaultInjector(ABC):
    """A fault that patches API objects and restores their snapshots."""

    def __init__(self, fault: KubeFaultBase, place: KubePlace) -> None:
        self.name = fault.name
        self.kind = fault.kind
        self._target = fault.target
        self._login, self.namespace, self._kube = place.login, place.namespace, place.kube
        self._mark = f"{place.run or 'meshproof'}/{fault.name}"
        self._changes: list[ObjectChange] | None = None
        self._applied: list[ObjectState] = []

    def check(self) -> None:
        self.plan(self._kube)

    def rollback_entry(self) -> RollbackEntry:
        self._changes = [
            ObjectChange(snapshot=snapshot, patch=patch, mark=self._mark)
            for snapshot, patch in self.plan(self._kube)
        ]
        steps = [RestoreKubeObject(login=self._login, change=change) for change in self._changes]
        return RollbackEntry(fault=self.name, kind=self.kind, target=self._target, steps=steps)

    def apply(self) -> None:
        for change in self._planned():
            self._applied.append(apply(self._kube, change))

    def revert(self) -> None:
        changes = self._planned()
        for index in reversed(range(len(changes))):
            applied = self._applied[index] if index < len(self._applied) else None
            restore(self._kube, changes[index], applied=applied)

    @abstractmethod
    def plan(self, kube: KubeClient) -> list[tuple[Snapshot, dict[str, Any]]]:
        """Read the object(s) and say the merge patch for each (pure builders)."""

    def _ref(self, resource: Resource, name: str) -> ObjectRef:
        return ObjectRef.of(resource, self.namespace, name)

    def _one(
        self, kube: KubeClient, resource: Resource, name: str
    ) -> tuple[Snapshot, dict[str, Any]]:
        obj = kube.get(resource, self.namespace, name)
        return Snapshot.of(self._ref(resource, name), obj), obj

    def _planned(self) -> list[ObjectChange]:
        if self._changes is None:
            raise FaultError(f"fault {self.name!r}: rollback_entry() comes before apply()")
        return self._changes


class IstioFaultInjector(ObjectFaultInjector):
    def __init__(self, fault: IstioFaultFault, place: KubePlace) -> None:
        super().__init__(fault, place)
        self._fault = fault

    def plan(self, kube: KubeClient) -> list[tuple[Snapshot, dict[str, Any]]]:
        params, host = self._fault.params, self._fault.target
        if self._fault.virtual_service is not None:
            snapshot, obj = self._one(kube, VIRTUAL_SERVICE, self._fault.virtual_service)
            return [(snapshot, istio.istio_fault_patch(obj, params))]
        found = istio.virtual_service_of(kube.list(VIRTUAL_SERVICE, self.namespace), host)
        if found is None:
            ref = self._ref(VIRTUAL_SERVICE, f"meshproof-{self.name}".lower())
            return [(read_or_absent(kube, ref), istio.new_virtual_service(host, params))]
        ref = self._ref(VIRTUAL_SERVICE, found["metadata"]["name"])
        return [(Snapshot.of(ref, found), istio.istio_fault_patch(found, params))]


class IstioPolicyInjector(ObjectFaultInjector):
    def __init__(self, fault: IstioPolicyFault, place: KubePlace) -> None:
        super().__init__(fault, place)
        self._fault = fault

    def plan(self, kube: KubeClient) -> list[tuple[Snapshot, dict[str, Any]]]:
        resource, name = object_target(self._fault.target, ISTIO_POLICY_OBJECTS)
        snapshot, obj = self._one(kube, resource, name)
        params = self._fault.params
        if resource == DESTINATION_RULE:
            return [(snapshot, istio.traffic_policy_patch(obj, params))]
        return [(snapshot, istio.route_policy_patch(obj, params))]


class IstioTrafficSplitInjector(ObjectFaultInjector):
    def __init__(self, fault: IstioTrafficSplitFault, place: KubePlace) -> None:
        super().__init__(fault, place)
        self._fault = fault

    def plan(self, kube: KubeClient) -> list[tuple[Snapshot, dict[str, Any]]]:
        snapshot, obj = self._one(kube, VIRTUAL_SERVICE, self._fault.target)
        patch = istio.traffic_split_patch(obj, self._fault.params)
        host = patch["spec"]["http"][0]["route"][0]["destination"]["host"]
        rules = kube.list(DESTINATION_RULE, self.namespace)
        unknown = istio.unknown_subsets(rules, host, set(self._fault.params.weights))
        if unknown:
            raise FaultError(
                f"fault {self.name!r}: no DestinationRule of {host} defines subset(s) "
                f"{', '.join(unknown)}; their share would get 503 NR"
            )
        return [(snapshot, patch)]


class LinkerdPolicyInjector(ObjectFaultInjector):
    def __init__(self, fault: LinkerdPolicyFault, place: KubePlace) -> None:
        super().__init__(fault, place)
        self._fault = fault

    def plan(self, kube: KubeClient) -> list[tuple[Snapshot, dict[str, Any]]]:
        resource, name = object_target(self._fault.target, LINKERD_POLICY_OBJECTS)
        snapshot, _ = self._one(kube, resource, name)
        return [(snapshot, linkerd.annotations_patch(self._fault.params, resource.kind))]


class LinkerdRouteSplitInjector(ObjectFaultInjector):
    def __init__(self, fault: LinkerdRouteSplitFault, place: KubePlace) -> None:
        super().__init__(fault, place)
        self._fault = fault

    def plan(self, kube: KubeClient) -> list[tuple[Snapshot, dict[str, Any]]]:
        resource, name = object_target(self._fault.target, HTTP_ROUTE_OBJECTS)
        snapshot, obj = self._one(kube, resource, name)
        return [(snapshot, linkerd.route_split_patch(obj, self._fault.params))]


class ConsulPolicyInjector(ObjectFaultInjector):
    def __init__(self, fault: ConsulPolicyFault, place: KubePlace) -> None:
        super().__init__(fault, place)
        self._fault = fault

    def plan(self, kube: KubeClient) -> list[tuple[Snapshot, dict[str, Any]]]:
        resource, name = object_target(self._fault.target, CONSUL_OBJECTS)
        snapshot, _ = self._one(kube, resource, name)
        return [(snapshot, consul.config_entry_patch(self._fault.params))]


class DeploymentScaleInjector(ObjectFaultInjector):
    def __init__(self, fault: DeploymentScaleFault, place: KubePlace) -> None:
        super().__init__(fault, place)
        self._fault = fault

    def plan(self, kube: KubeClient) -> list[tuple[Snapshot, dict[str, Any]]]:
        snapshot, _ = self._one(kube, DEPLOYMENT, self._fault.target)
        return [(snapshot, workloads.scale_patch(self._fault.params))]


class PodDeleteInjector:
    """Deletes the picked pods, each only as it was read (uid and resourceVersion)."""

    def __init__(self, fault: PodDeleteFault, place: KubePlace) -> None:
        self.name = fault.name
        self._fault = fault
        self.namespace, self._kube = place.namespace, place.kube
        self._selector = place.narrowed(fault.target)
        self._pods: list[dict[str, Any]] | None = None

    def check(self) -> None:
        self._pick()

    def _pick(self) -> list[dict[str, Any]]:
        pods = self._kube.list(POD, self.namespace, label_selector=self._selector)
        return workloads.pods_to_delete(pods, self._fault.params, self._fault.target)

    def rollback_entry(self) -> RollbackEntry:
        self._pods = self._pick()
        steps = [
            KubePodDeleted(
                snapshot=Snapshot.of(ObjectRef.of(POD, self.namespace, p["metadata"]["name"]), p),
                controller=workloads.controller_of(p) or "",
            )
            for p in self._pods
        ]
        return RollbackEntry(
            fault=self.name, kind=self._fault.kind, target=self._fault.target, steps=steps
        )

    def apply(self) -> None:
        if self._pods is None:
            raise FaultError(f"fault {self.name!r}: rollback_entry() comes before apply()")
        for pod in self._pods:
            metadata = pod["metadata"]
            self._kube.delete(
                POD,
                self.namespace,
                metadata["name"],
                uid=metadata["uid"],
                resource_version=metadata["resourceVersion"],
            )

    def revert(self) -> None:
        """Nothing: the pods' controllers replace them."""
