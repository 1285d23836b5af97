"""The kubernetes runtime: `meshproof up TOPOLOGY --runtime kubernetes`.

`up` renders the deployment's objects (`manifests`), writes the state file (runtime,
cluster, namespace, label) before it creates anything, creates them through the one
client (`mesh_runtime.kube.KubeClient`), then waits until every part's pod is ready, or
for `ready_timeout` (a clear line naming each part that is not and why: no pod, not
scheduled, the scheduler's reason, a container's reason); with `wait=False` it returns
once the objects exist. A readiness timeout leaves the deployment in place (`status`
shows it, `down` removes it); a refused create removes what was created.

`down` deletes every object carrying `meshproof.deployment=<id>` in the namespace, found
by listing each resource by that label (not from a record of what was created), so what a
SIGKILLed `up` left is removed too; it repeats until nothing with the label is left (a
controller may make a pod while its Deployment is being deleted). `status` reports the
objects and each part's pods as the cluster sees them (`podstate`): nothing is called
ready that the kubelet has not reported ready.

The URLs in the deployment handle are the Services' ClusterIPs (`reach`: stable when a
pod is replaced), so `run --runtime kubernetes` works where kube-proxy runs (a node of
the cluster); the spans are read from the trace sink's `GET /spans` (`trace_url`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from mesh_runtime.control.ca import CertificateAuthority
from mesh_runtime.errors import DeployError, InvalidInput, ReadinessTimeout
from mesh_runtime.kube.client import KubeClient
from mesh_runtime.kube.errors import KubeConflict, KubeForbidden, KubeNotFound
from mesh_runtime.kube.resources import (
    CONFIG_MAP,
    DEPLOYMENT,
    NAMESPACE,
    NETWORK_POLICY,
    POD,
    REPLICA_SET,
    ROLE,
    ROLE_BINDING,
    SECRET,
    SERVICE,
    SERVICE_ACCOUNT,
    Resource,
    resource_of,
)
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.base import GOES_ON_AS_IS, StateKeeper
from mesh_runtime.runtimes.deployment import Deployment, KubernetesPlacement, KubernetesSource
from mesh_runtime.runtimes.docker.compose import PROMETHEUS_PORT, render_plan
from mesh_runtime.runtimes.docker.naming import DEPLOYMENT_LABEL, deployment_id
from mesh_runtime.runtimes.docker.specs import ContainerPlan
from mesh_runtime.runtimes.kubernetes.loadworkers import load_worker_pods
from mesh_runtime.runtimes.kubernetes.manifests import manifests
from mesh_runtime.runtimes.kubernetes.podstate import PartState, not_ready_summary, part_states
from mesh_runtime.runtimes.kubernetes.reach import cluster_ips, host_view
from mesh_runtime.runtimes.kubernetes.services import INGRESS_PORT
from mesh_runtime.runtimes.kubernetes.stats import KubeletStatsSampler, PodsView
from mesh_runtime.runtimes.readiness import Deadline, wait_until
from mesh_runtime.runtimes.workdir import DeploymentSecrets, fresh_dir, write_secret_files
from mesh_runtime.topology import MeshMode, load_topology

RUNTIME = "kubernetes"
DELETE_ORDER: tuple[Resource, ...] = (
    NETWORK_POLICY,  # a network_disconnect's, left by a harness that died
    DEPLOYMENT,
    REPLICA_SET,
    POD,
    SERVICE,
    ROLE_BINDING,
    ROLE,
    SERVICE_ACCOUNT,
    SECRET,
    CONFIG_MAP,
)
"""What `down` lists by label and deletes: controllers before what they make."""
MADE_BY_FAULTS_ONLY: tuple[Resource, ...] = (NETWORK_POLICY,)
"""Kinds `up` never makes: a user who may not list them made none (network_disconnect
asks for the right first), so `down` and `status` skip them instead of failing."""
POLL_S = 1.0


class KubernetesRuntime(StateKeeper):
    """The mesh as pods in one namespace of a cluster; state files as the other runtimes'."""

    name = RUNTIME

    READY_TIMEOUT = 180.0

    def __init__(
        self, *, placement: KubernetesPlacement | None = None, wait: bool = True, **options: Any
    ) -> None:
        """`placement`: where `up` deploys (down and status read it from the state file);
        `wait`: whether `up` waits for the pods to be ready."""
        super().__init__(**options)
        self.placement = placement
        self.wait = wait

    # --- up ---------------------------------------------------------------------------------

    def up(
        self,
        topology_path: str | Path,
        *,
        mode: MeshMode = "mesh",
        otlp_endpoint: str | None = None,
        sidecar_command: Sequence[str] | None = None,
        config_source: KubernetesSource | None = None,
    ) -> Deployment:
        _refuse_options(otlp_endpoint, sidecar_command, config_source)
        if self.placement is None:
            raise InvalidInput("--runtime", "", "kubernetes needs --kubeconfig FILE")
        topology = load_topology(topology_path)
        self.refuse_if_running(topology.name)
        with _client(self.placement) as kube:
            _check_namespace(kube, self.placement.namespace)
            work = state.work_dir(self.state_root, topology.name)
            fresh_dir(work)
            placement = self.placement.model_copy(
                update={"deployment_id": deployment_id(topology.name, work)}
            )
            cplan = render_plan(topology, str(topology_path), mode)
            keys = DeploymentSecrets.generate()
            objects = manifests(
                cplan,
                keys,
                deployment=placement.deployment_id,
                namespace=placement.namespace,
                ca=CertificateAuthority.create().root_files(),
            )
            deployment = _handle(cplan, keys, work, placement)
            state.save(deployment, self.state_file(topology.name))
            self._create(kube, deployment, objects)
            deployment = self._at_cluster_ips(kube, deployment, topology.ingress)
            state.save(deployment, self.state_file(topology.name))
            if self.wait:
                self._wait_ready(kube, deployment)
        return deployment

    def _create(
        self, kube: KubeClient, deployment: Deployment, objects: list[dict[str, Any]]
    ) -> None:
        """Create every object; on a refusal (or Ctrl-C) remove what was made, then raise."""
        placement = _placement(deployment)
        try:
            for obj in objects:
                kind, name = obj["kind"], obj["metadata"]["name"]
                self.progress(f"creating {kind} {name}")
                try:
                    kube.create(resource_of(obj), placement.namespace, obj)
                except KubeConflict:
                    raise DeployError(
                        f"{kind} {placement.namespace}/{name} already exists on {kube.server} "
                        "and is not this deployment's: use another --namespace, or take down "
                        "what owns it"
                    ) from None
        except GOES_ON_AS_IS:
            self._remove(kube, deployment)
            raise

    def _at_cluster_ips(self, kube: KubeClient, deployment: Deployment, ingress: str) -> Deployment:
        """The handle with its URLs at the Services' ClusterIPs (`reach`)."""
        placement = _placement(deployment)
        selector = f"{DEPLOYMENT_LABEL}={placement.deployment_id}"
        found = kube.list(SERVICE, placement.namespace, label_selector=selector)
        return host_view(deployment, cluster_ips(found), ingress)

    def _wait_ready(self, kube: KubeClient, deployment: Deployment) -> None:
        placement = _placement(deployment)
        parts: list[PartState] = []

        def ready() -> bool:
            nonlocal parts
            parts = self.parts(kube, placement)
            done = sum(p.ready for p in parts)
            self.progress(f"waiting for the pods: {done}/{len(parts)} parts ready")
            return bool(parts) and done == len(parts)

        if wait_until(ready, Deadline.after(self.ready_timeout), interval=POLL_S) == "timeout":
            done = sum(p.ready for p in parts)
            raise ReadinessTimeout(
                f"{deployment.name}: {done}/{len(parts)} parts ready after "
                f"{self.ready_timeout:.0f}s in {placement.namespace} on {kube.server}: "
                f"{not_ready_summary(parts)}. It stays deployed: `meshproof status "
                f"{deployment.name}` shows it, `meshproof down {deployment.name}` removes it"
            )

    def refuse_if_running(self, topology_name: str) -> None:
        """DeployError while the state file exists and anything carries its label; a state
        file whose objects are all gone is dropped."""
        path = self.state_file(topology_name)
        if not path.exists():
            return
        old = state.load(path)
        if old.runtime == RUNTIME and old.kubernetes is not None:
            with _client(old.kubernetes) as kube:
                if not self.labelled(kube, old.kubernetes):
                    state.remove(path)
                    return
        raise DeployError(
            f"{topology_name} is already up (state file {path}); "
            f"run `meshproof down {topology_name}` first"
        )

    # --- down / status --------------------------------------------------------------------

    def down(self, deployment: Deployment) -> None:
        """Delete everything with the deployment's label; then drop the state file."""
        with _client(_placement(deployment)) as kube:
            self._remove(kube, deployment)

    def down_unrecorded(self, topology_name: str) -> None:
        """`down` for a deployment whose state file is gone: delete what carries the label
        `up` gives `topology_name` from this state root, in `placement`'s namespace."""
        if self.placement is None:
            raise InvalidInput("--kubeconfig", "", "needed to find the deployment's objects")
        work = state.work_dir(self.state_root, topology_name)
        placement = self.placement.model_copy(
            update={"deployment_id": deployment_id(topology_name, work)}
        )
        handle = Deployment(
            topology_file=topology_name,
            runtime=RUNTIME,
            ingress_url="",
            work_dir=str(work),
            kubernetes=placement,
        )
        self.down(handle)

    def _remove(self, kube: KubeClient, deployment: Deployment) -> None:
        placement = _placement(deployment)
        left: list[tuple[Resource, str]] = []

        def gone() -> bool:
            nonlocal left
            left = self._sweep(kube, placement)
            return not left

        outcome = wait_until(gone, Deadline.after(self.ready_timeout), interval=POLL_S)
        if outcome == "timeout":
            what = ", ".join(f"{r.kind} {n}" for r, n in left[:8])
            raise DeployError(f"{deployment.name}: still there after down on {kube.server}: {what}")
        state.remove(self.state_file(deployment.name))

    def _sweep(
        self, kube: KubeClient, placement: KubernetesPlacement
    ) -> list[tuple[Resource, str]]:
        """Delete whatever carries the label (once each); what is still listed afterwards."""
        for resource, obj in self.labelled(kube, placement):
            if (obj.get("metadata") or {}).get("deletionTimestamp"):
                continue
            name = obj["metadata"]["name"]
            self.progress(f"deleting {resource.kind} {name}")
            with suppress(KubeNotFound):
                kube.delete(resource, placement.namespace, name)
        return [(r, o["metadata"]["name"]) for r, o in self.labelled(kube, placement)]

    def labelled(
        self, kube: KubeClient, placement: KubernetesPlacement
    ) -> list[tuple[Resource, dict[str, Any]]]:
        """Every object in the namespace with the deployment's label, in DELETE_ORDER."""
        selector = f"{DEPLOYMENT_LABEL}={placement.deployment_id}"
        found: list[tuple[Resource, dict[str, Any]]] = []
        for resource in DELETE_ORDER:
            try:
                objects = kube.list(resource, placement.namespace, label_selector=selector)
            except KubeForbidden:
                if resource not in MADE_BY_FAULTS_ONLY:
                    raise
                continue
            found.extend((resource, obj) for obj in objects)
        return found

    def parts(self, kube: KubeClient, placement: KubernetesPlacement) -> list[PartState]:
        selector = f"{DEPLOYMENT_LABEL}={placement.deployment_id}"
        deployments = kube.list(DEPLOYMENT, placement.namespace, label_selector=selector)
        pods = kube.list(POD, placement.namespace, label_selector=selector)
        return part_states(deployments, pods)

    def status(self, deployment: Deployment) -> dict[str, Any]:
        """The objects with the label (by kind) and each part's pods as the cluster says."""
        placement = _placement(deployment)
        with _client(placement) as kube:
            objects: dict[str, list[str]] = {}
            for resource, obj in self.labelled(kube, placement):
                objects.setdefault(resource.kind, []).append(obj["metadata"]["name"])
            parts = self.parts(kube, placement)
            server = kube.server
        return {
            "topology": deployment.name,
            "topology_file": deployment.topology_file,
            "runtime": deployment.runtime,
            "mode": deployment.mode,
            "server": server,
            "namespace": placement.namespace,
            "deployment_id": placement.deployment_id,
            "ingress_url": deployment.ingress_url,
            "prometheus_url": deployment.prometheus_url,
            "control_url": deployment.control_url,
            "toxiproxy_url": deployment.toxiproxy_url,
            "trace_file": None,
            "objects": objects,
            "processes": [_row(part) for part in parts],
        }

    def stats_sampler(
        self, deployment: Deployment, *, t0: float, out: Path | None = None
    ) -> KubeletStatsSampler:
        """CPU and memory per container from the kubelets' resource metrics, read through
        the API server (the other samplers' columns)."""
        placement = _placement(deployment)
        kube = KubeClient.connect(
            Path(placement.kubeconfig), placement.context, timeout_s=SAMPLER_TIMEOUT_S
        )
        selector = f"{DEPLOYMENT_LABEL}={placement.deployment_id}"

        def pods() -> PodsView:
            return PodsView.of(kube.list(POD, placement.namespace, label_selector=selector))

        return KubeletStatsSampler(
            placement.namespace,
            list_pods=pods,
            read_node=kube.node_metrics,
            t0=t0,
            out=out,
            close=kube.close,
        )

    def start_load_workers(self, deployment: Deployment, master: str, replicas: int) -> None:
        """`replicas` Locust worker pods (the load image) connecting to the master at
        `master` (HOST:PORT, an address the pods reach); `down` deletes them."""
        placement = _placement(deployment)
        pods = load_worker_pods(placement.deployment_id, placement.namespace, master, replicas)
        with _client(placement) as kube:
            for pod in pods:
                kube.create(POD, placement.namespace, pod)

    def restart(self, deployment: Deployment, name: str) -> Deployment:
        raise DeployError(_NOT_YET.format(what="restart a part"))

    def signal(self, deployment: Deployment, name: str, sig: int) -> None:
        raise DeployError(_NOT_YET.format(what="signal a part"))


_NOT_YET = "the kubernetes runtime cannot {what} (in a cluster, delete its pod: pod_delete)"


def _row(part: PartState) -> dict[str, Any]:
    """A part as a row of `status`' processes (pid: none; the pods instead)."""
    return {
        "name": part.name,
        "role": part.role,
        "pid": None,
        "pods": list(part.pods),
        "ports": {},
        "alive": part.phase == "Running",
        "ready": part.ready,
        "phase": part.phase,
        "reason": part.reason,
    }


def _refuse_options(
    otlp_endpoint: str | None,
    sidecar_command: Sequence[str] | None,
    config_source: KubernetesSource | None,
) -> None:
    for given, what in (
        (config_source, "--config-source kubernetes"),
        (otlp_endpoint, "an external OTLP endpoint"),
        (sidecar_command, "another sidecar program"),
    ):
        if given:
            raise DeployError(f"the kubernetes runtime does not take {what} yet")


SAMPLER_TIMEOUT_S = 5.0
"""A reading slower than this is skipped (the sampler reads again the next second)."""


@contextmanager
def _client(placement: KubernetesPlacement) -> Iterator[KubeClient]:
    with KubeClient.connect(Path(placement.kubeconfig), placement.context) as kube:
        yield kube


def _placement(deployment: Deployment) -> KubernetesPlacement:
    if deployment.kubernetes is None:
        raise DeployError(f"{deployment.name}: its state file names no cluster")
    return deployment.kubernetes


def check_cluster(placement: KubernetesPlacement) -> None:
    """One line (InvalidInput, KubeApiError) unless the kubeconfig loads, its server
    answers and the namespace exists: `run` asks before its run folder exists."""
    with _client(placement) as kube:
        _check_namespace(kube, placement.namespace)


def _check_namespace(kube: KubeClient, namespace: str) -> None:
    """InvalidInput when the namespace does not exist (a user who may not read namespaces
    finds out at the first create instead)."""
    try:
        kube.get(NAMESPACE, None, namespace)
    except KubeNotFound:
        raise InvalidInput(
            "--namespace", "", f"no namespace {namespace!r} on {kube.server} (create it first)"
        ) from None
    except KubeForbidden:
        return


def _handle(
    cplan: ContainerPlan, keys: DeploymentSecrets, work: Path, placement: KubernetesPlacement
) -> Deployment:
    """The deployment handle: in-cluster URLs, the host's copy of the admin token."""
    plan = cplan.plan
    mesh = plan.mode == "mesh"

    def url(service: str, port: int) -> str:
        return f"http://{service}.{placement.namespace}.svc:{port}"

    admin_token = None
    if mesh:
        admin_token = work / "admin-token"
        try:
            write_secret_files({admin_token: keys.admin_token})
        except OSError as exc:
            raise DeployError(f"{admin_token}: cannot write: {exc.strerror}") from exc
    control = next((p for p in plan.processes if p.role == "control-plane"), None)
    toxiproxy = next(p for p in plan.processes if p.role == "toxiproxy")
    sink = next(p for p in plan.processes if p.role == "trace-sink")
    return Deployment(
        topology_file=plan.topology_file,
        runtime=RUNTIME,
        mode=plan.mode,
        ingress_url=url(plan.topology.ingress, INGRESS_PORT),
        control_url=url("control-plane", control.ports["port"]) if control else None,
        control_token=keys.control_token if mesh else None,
        admin_token_file=str(admin_token) if admin_token else None,
        prometheus_url=url("prometheus", PROMETHEUS_PORT),
        toxiproxy_url=url("toxiproxy", toxiproxy.ports["port"]),
        trace_file=None,
        trace_url=url("trace-sink", sink.ports["port"]),
        work_dir=str(work),
        instances=list(plan.instances),
        proxies=list(cplan.proxies),
        processes=[],
        kubernetes=placement,
    )
