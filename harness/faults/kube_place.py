"""Where a Kubernetes fault acts, and whether it may: the API server and user (`KubeLogin`:
a kubeconfig and context, never a credential), the namespace and the run (`KubePlace`),
and the registry's factory `in_place`, which finds the place and checks an injector
before the run starts (RBAC allows every call it will make, `refuse_if_denied`; the
object is there and its patch builds). The injectors are harness.faults.kube's and its
neighbours' (kube_process, kube_network, kube_rollout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from harness.errors import FaultError
from harness.faults.base import FaultContext
from harness.faults.kube_plan import permissions
from harness.faults.steps import StepTools
from harness.kube.state import KubeModel
from harness.kube.targets import namespace_problem
from harness.spec.kube_faults import KubeFaultBase
from mesh_runtime.runtimes.docker.naming import DEPLOYMENT_LABEL

if TYPE_CHECKING:  # the client imports the `kubernetes` package: loaded when a fault needs it
    from mesh_runtime.kube.client import KubeClient


class KubeLogin(KubeModel):
    """Which API server and user: a kubeconfig file and context (the credentials stay in
    the file; a step names it)."""

    kubeconfig: Path
    context: str | None = None

    def client(self, tools: StepTools) -> KubeClient:
        """One client per kubeconfig and context for the steps of one recovery (one
        attempt per call, `tools.call_timeout_s` each, when that is set)."""
        key = ("kube", str(self.kubeconfig), self.context)
        return tools.shared(key, lambda: self.connect(tools.call_timeout_s))

    def connect(self, one_attempt_s: float | None = None) -> KubeClient:
        """A client with the default timeout and retries, or sending each call once and
        waiting at most `one_attempt_s` for it."""
        from mesh_runtime.kube.client import KubeClient

        if one_attempt_s is None:
            return KubeClient.connect(self.kubeconfig, self.context)
        return KubeClient.connect(
            self.kubeconfig, self.context, timeout_s=one_attempt_s, one_attempt=True
        )


@dataclass
class KubePlace:
    """Where a Kubernetes fault acts: the API server and user, the namespace, the run."""

    login: KubeLogin
    namespace: str
    run: str
    kube: KubeClient

    selector: str = ""
    """Label terms every pod selector is narrowed by (the kubernetes runtime: its
    deployment's label, so pod_delete never picks a pod it did not make)."""

    @classmethod
    def of(cls, ctx: FaultContext, fault: KubeFaultBase) -> KubePlace:
        """From the target file's `kubernetes:` (a namespace outside its list is refused;
        validate refuses it first), or the kubernetes runtime's own placement."""
        if ctx.deployment.target is None and ctx.deployment.kubernetes is not None:
            return cls.of_runtime(ctx, fault.kind)
        target = ctx.deployment.target
        access = target.kubernetes if target is not None else None
        if access is None:
            raise FaultError(
                f"fault {fault.name!r}: {fault.kind} needs a target file with `kubernetes:`"
                " or the kubernetes runtime"
            )
        problem = namespace_problem(fault.namespace, access.namespaces)
        if problem:
            raise FaultError(f"fault {fault.name!r}: namespace {problem}")
        login = KubeLogin(kubeconfig=access.kubeconfig_path().expanduser(), context=access.context)
        return cls(
            login=login,
            namespace=fault.namespace or access.namespaces[0],
            run=ctx.run,
            kube=login.connect(),
        )

    @classmethod
    def of_runtime(cls, ctx: FaultContext, kind: str) -> KubePlace:
        """The kubernetes runtime's API server, user and namespace, from the deployment's
        handle; pod selectors narrowed to the deployment's label."""
        placement = ctx.deployment.kubernetes
        if placement is None or ctx.deployment.target is not None:
            raise FaultError(f"{kind}: this injector works on the kubernetes runtime only")
        login = KubeLogin(kubeconfig=Path(placement.kubeconfig), context=placement.context)
        return cls(
            login=login,
            namespace=placement.namespace,
            run=ctx.run,
            kube=login.connect(),
            selector=f"{DEPLOYMENT_LABEL}={placement.deployment_id}",
        )

    def narrowed(self, selector: str) -> str:
        """`selector` with this place's own terms added (ANDed)."""
        return f"{self.selector},{selector}" if self.selector else selector


class Checked(Protocol):
    def check(self) -> None:
        """Read what the fault will change and build its patch, changing nothing."""


InjectorT = TypeVar("InjectorT", bound=Checked)
F = TypeVar("F", bound=KubeFaultBase)


def in_place(
    injector: Callable[[F, KubePlace], InjectorT],
) -> Callable[[F, FaultContext], InjectorT]:
    """The registry's factory for a Kubernetes injector: its place found from the context,
    then checked before the run starts (the engine builds every injector before the load):
    RBAC allows every call the fault makes, the object is there and its patch builds."""

    def make(fault: F, ctx: FaultContext) -> InjectorT:
        place = KubePlace.of(ctx, fault)
        refuse_if_denied(fault, place)
        made = injector(fault, place)
        made.check()
        return made

    return make


def refuse_if_denied(fault: KubeFaultBase, place: KubePlace) -> None:
    """FaultError (one line) naming every call RBAC denies the fault's user in its namespace
    (a SelfSubjectAccessReview each)."""
    denied = [
        f"{verb} {resource}"
        for verb, resource in permissions(fault)
        if not place.kube.can_i(verb, resource, place.namespace)
    ]
    if denied:
        context = f" (context {place.login.context})" if place.login.context else ""
        raise FaultError(
            f"fault {fault.name!r}: the user of {place.login.kubeconfig}{context} may not "
            f"{', '.join(denied)} in namespace {place.namespace} (RBAC); nothing was changed"
        )
