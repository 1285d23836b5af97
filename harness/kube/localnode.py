"""A real single-node Kubernetes cluster on this machine, for tests and benchmarks.

    with LocalNode(work_dir, NodeBinaries.find(), images=["meshproof/mesh:0.1.0"]) as node:
        node.kubeconfig          # admin context; the node `meshproof-node` is Ready
        node.network.node_ip     # the node's address, on the bridge it made

Started in this order, each waited for by readiness: the node's bridge and its FORWARD
rules, containerd (a second instance: own root, state and socket,
`harness/kube/containerd.toml`), whose import of the pause image and `images` from the
Docker engine runs meanwhile in a thread, etcd + kube-apiserver (`LocalApiServer` bound to
the node's address), kube-controller-manager, kube-scheduler, kube-proxy (iptables),
CoreDNS (the kubernetes plugin, on the node's address, behind the `kube-dns` Service;
ready once it has synced with the API server), the kubelet, then kube-router's network
policy controller (harness.kube.netpolicy: the bridge plugin does not enforce
NetworkPolicy; ready once its chains are in place); `start` returns when the node is Ready
and untainted and the images are in. `stop` ends every process it started (pods first,
through the kubelet's runtime), removes kube-proxy's rules, kube-router's rules and
ipsets, the kubelet's chains, its own rules, the bridge and the mounts under the work dir.

One node at a time on a machine: kube-proxy owns the host's KUBE-* chains, so `start` takes
an exclusive lock (`LOCK_FILE`) and holds it until `stop`.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import yaml

from harness.kube.credentials import write_kubelet_client_pki
from harness.kube.netpolicy import cleanup_commands, firewall_ready, kube_router_command
from harness.kube.nodebinaries import CNI_BIN_DIR, NodeBinaries
from harness.kube.nodecommands import (
    controller_manager_command,
    kube_proxy_command,
    kubelet_command,
    scheduler_command,
)
from harness.kube.nodeconfig import (
    CONTAINERD_TEMPLATE,
    NODE_NAME,
    PAUSE_IMAGE,
    NodeNetwork,
    cni_conflist,
    containerd_config,
    corefile,
    dns_service_objects,
    forward_rules,
    kubelet_chain_cleanup,
    kubelet_config,
)
from harness.kube.nodehost import delete_link, filter_rules, http_ok, run_on_host, unmount_under
from harness.kube.testing import (
    ADMIN,
    SERVICE_CIDR,
    LocalApiServer,
    LoggedProcess,
    spawn_logged,
    wait_started,
)
from mesh_runtime.errors import DeployError
from mesh_runtime.kube.client import KubeClient
from mesh_runtime.kube.errors import KubeApiError
from mesh_runtime.kube.resources import ENDPOINT_SLICE, NODE, POD, SERVICE
from mesh_runtime.runtimes.ports import port_allocator
from mesh_runtime.runtimes.readiness import Deadline, wait_until

LOCK_FILE = Path("/run/lock/meshproof-node.lock")


class LocalNode:
    """The control plane, one node and the cluster's add-ons, all under `work_dir`."""

    def __init__(
        self,
        work_dir: Path,
        binaries: NodeBinaries,
        *,
        images: Sequence[str] = (),
        network: NodeNetwork | None = None,
        ready_timeout_s: float = 120.0,
        docker: str = "docker",
    ) -> None:
        self.work_dir = work_dir
        self.binaries = binaries
        self.images = tuple(images)
        self.network = network or NodeNetwork()
        self.ready_timeout_s = ready_timeout_s
        self.docker = docker
        # The API server's node proxy reaches the kubelet as a client it trusts (the
        # kubelet's resource metrics: the kubernetes runtime's resources table).
        self.kubelet_client = write_kubelet_client_pki(work_dir / "kubelet-client")
        self.api = LocalApiServer(
            work_dir / "api",
            binaries.api,
            host=self.network.node_ip,
            extra_args=self.kubelet_client.apiserver_args(),
        )
        self.timings: dict[str, float] = {}
        self._processes: list[LoggedProcess] = []
        self._lock: IO[bytes] | None = None
        self._rules: list[list[str]] = []
        self._bridge_made = False
        self._kubelet_ran = False
        self._policy_ran = False
        self._importing: threading.Thread | None = None
        self._import_error: DeployError | None = None

    # --- public face ---------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.api.kubeconfig

    @property
    def kubelet_root(self) -> Path:
        """The kubelet's --root-dir: pods/<uid>/volumes/kubernetes.io~empty-dir/<name>/ holds
        each pod's emptyDir volumes, readable from the host."""
        return self.work_dir / "kubelet" / "root"

    @property
    def containerd_socket(self) -> Path:
        return self.work_dir / "containerd" / "containerd.sock"

    def client(self) -> KubeClient:
        return self.api.client(ADMIN)

    def process(self, name: str) -> LoggedProcess | None:
        """A program of the node by name (`kube-router`, `kubelet`, ...), if started."""
        return self._find(name)

    def start(self) -> None:
        """Start everything; return when the node is Ready (DeployError / ReadinessTimeout)."""
        began = time.monotonic()
        self._take_lock()
        self._step("network", self._make_network)
        self._step("containerd", self._start_containerd)
        # The images load while the control plane starts: only pods need them.
        self._importing = threading.Thread(target=self._import_images, daemon=True)
        self._importing.start()
        self._step("apiserver", self.api.start)
        self._step("control_plane", self._start_control_plane)
        self._step("dns", self._start_dns)
        self._step("kubelet", self._start_kubelet)
        self._step("network_policy", self._start_network_policy)
        self._step("images_wait", self._images_loaded)
        self.timings["start_s"] = time.monotonic() - began

    def _images_loaded(self) -> None:
        if self._importing is not None:
            self._importing.join()
        if self._import_error is not None:
            raise self._import_error

    def stop(self) -> None:
        """End every process started here, newest first, and undo the host changes. Pods
        still on the node are deleted first and the kubelet stops their sandboxes (CNI
        teardown included); whatever containerd still runs after that is killed."""
        if self._importing is not None:  # a start that failed half-way
            self._importing.join(timeout=300)
        for name in ("kube-controller-manager", "kube-scheduler"):  # no pod comes back
            process = self._find(name)
            if process is not None:
                self._stop_process(process)
        if self._find("kubelet") is not None:
            self._drain_pods()
        for process in reversed(self._processes):
            if process.name == "containerd":
                self._kill_containers()
            self._stop_process(process)
        self._processes.clear()
        self.api.stop()
        self._clean_host()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> LocalNode:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def ctr(self, *args: str, stdin: IO[bytes] | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run `ctr` against the node's containerd in the CRI namespace `k8s.io`."""
        command = [str(self.binaries.ctr), "--address", str(self.containerd_socket)]
        return subprocess.run(
            [*command, "--namespace", "k8s.io", *args],
            stdin=stdin,
            capture_output=True,
            check=False,
            timeout=300,
        )

    # --- the parts -----------------------------------------------------------------------

    def _step(self, name: str, action: Callable[[], None]) -> None:
        began = time.monotonic()
        action()
        self.timings[f"{name}_s"] = time.monotonic() - began

    def _take_lock(self) -> None:
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        self._lock = LOCK_FILE.open("wb")
        fcntl.flock(self._lock, fcntl.LOCK_EX)

    def _make_network(self) -> None:
        net = self.network
        delete_link(net.bridge)  # a node killed before its stop left it
        run_on_host(["ip", "link", "add", net.bridge, "type", "bridge"])
        self._bridge_made = True
        run_on_host(["ip", "addr", "add", f"{net.node_ip}/{net.prefix}", "dev", net.bridge])
        run_on_host(["ip", "link", "set", net.bridge, "up"])
        # The host reaches Services by their ClusterIP (kube-proxy's OUTPUT rules rewrite
        # it to a pod): the range goes onto the bridge, from the node's address, so a packet
        # kube-proxy has not rewritten yet stays on the bridge instead of the default route.
        run_on_host(["ip", "route", "add", SERVICE_CIDR, "dev", net.bridge, "src", net.node_ip])
        for position, rule in enumerate(forward_rules(net, SERVICE_CIDR), start=1):
            run_on_host(["iptables", "-w", "-I", "FORWARD", str(position), *rule])
            self._rules.append(rule)

    def _start_containerd(self) -> None:
        base = self.work_dir / "containerd"
        cni_conf = base / "cni"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-meshproof.conflist").write_text(
            cni_conflist(self.network, base / "ipam", SERVICE_CIDR), encoding="utf-8"
        )
        config = base / "config.toml"
        config.write_text(
            containerd_config(
                CONTAINERD_TEMPLATE.read_text(encoding="utf-8"),
                root=base / "root",
                state=base / "state",
                socket=self.containerd_socket,
                cni_conf_dir=cni_conf,
                cni_bin_dir=CNI_BIN_DIR,
            ),
            encoding="utf-8",
        )
        process = self._spawn(
            "containerd", [str(self.binaries.containerd), "--config", str(config)]
        )
        self._wait(process, lambda: self.ctr("version").returncode == 0)

    def _import_images(self) -> None:
        """In a thread of its own: the error, if any, is kept for `_images_loaded`."""
        began = time.monotonic()
        try:
            self._load_images()
        except DeployError as exc:
            self._import_error = exc
        self.timings["images_s"] = time.monotonic() - began

    def _load_images(self) -> None:
        """`docker save` of the pause image and `images`, imported into containerd."""
        refs = [PAUSE_IMAGE, *self.images]
        save = subprocess.Popen(
            [self.docker, "save", *refs], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert save.stdout is not None
        imported = self.ctr("images", "import", "-", stdin=save.stdout)
        save.stdout.close()
        _, saved_err = save.communicate(timeout=300)
        if save.returncode != 0:
            raise DeployError(f"docker save {' '.join(refs)}: {saved_err.decode().strip()}")
        if imported.returncode != 0:
            raise DeployError(f"ctr images import: {imported.stderr.decode().strip()}")

    def _start_control_plane(self) -> None:
        api = self.api.work_dir
        with port_allocator() as allocate:
            cm_port, scheduler_port, proxy_health, proxy_metrics = (allocate() for _ in range(4))
        binaries = self.binaries
        self._spawn(
            "kube-controller-manager",
            controller_manager_command(
                binaries.controller_manager,
                self.kubeconfig,
                cm_port,
                root_ca=self.api.ca_file,
                service_account_key=api / "sa.key",
            ),
        )
        self._spawn(
            "kube-scheduler", scheduler_command(binaries.scheduler, self.kubeconfig, scheduler_port)
        )
        self._spawn(
            "kube-proxy",
            kube_proxy_command(
                binaries.kube_proxy, self.kubeconfig, self.network, proxy_health, proxy_metrics
            ),
        )

    def _start_dns(self) -> None:
        with self.client() as kube:
            for obj in dns_service_objects(self.network):
                resource = SERVICE if obj["kind"] == "Service" else ENDPOINT_SLICE
                kube.create(resource, "kube-system", obj)
        with port_allocator() as allocate:
            ready_port = allocate()
        folder = self.work_dir / "coredns"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Corefile").write_text(
            corefile(self.network, self.kubeconfig, ADMIN, ready_port), encoding="utf-8"
        )
        process = self._spawn(
            "coredns", [str(self.binaries.coredns), "-conf", str(folder / "Corefile")]
        )
        self._wait(process, lambda: http_ok(f"http://127.0.0.1:{ready_port}/ready"))

    def _start_kubelet(self) -> None:
        folder = self.work_dir / "kubelet"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "resolv.conf").write_text("", encoding="utf-8")
        with port_allocator() as allocate:
            port, healthz = allocate(), allocate()
        config = kubelet_config(
            network=self.network,
            runtime_socket=self.containerd_socket,
            port=port,
            healthz_port=healthz,
            resolv_conf=folder / "resolv.conf",
            pod_logs_dir=folder / "pod-logs",
            client_ca=self.kubelet_client.ca,
        )
        (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        self._kubelet_ran = True
        command = kubelet_command(
            self.binaries.kubelet,
            folder / "config.yaml",
            self.kubeconfig,
            root_dir=self.kubelet_root,
            cert_dir=folder / "pki",
            node_ip=self.network.node_ip,
        )
        process = self._spawn("kubelet", command)
        self._wait(process, self._node_ready)

    def _start_network_policy(self) -> None:
        """kube-router's firewall alone; it reads the Node object, so after the kubelet."""
        command = kube_router_command(
            self.binaries.kube_router, self.kubeconfig, NODE_NAME, SERVICE_CIDR
        )
        self._policy_ran = True
        process = self._spawn("kube-router", command)
        self._wait(process, lambda: firewall_ready(filter_rules()))

    def _node_ready(self) -> bool:
        """The node reports Ready and carries no taint (the lifecycle controller lifted
        node.kubernetes.io/not-ready), so pods can be scheduled on it."""
        try:
            with self.client() as kube:
                node = kube.get(NODE, None, NODE_NAME)
        except KubeApiError:
            return False
        conditions = node.get("status", {}).get("conditions", [])
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        return ready and not node.get("spec", {}).get("taints")

    # --- processes -----------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str]) -> LoggedProcess:
        process = spawn_logged(self.work_dir / "logs", name, command)
        self._processes.append(process)
        return process

    def _wait(self, process: LoggedProcess, ready: Callable[[], bool]) -> None:
        wait_started(process, ready, self.ready_timeout_s, interval=0.2)

    def _find(self, name: str) -> LoggedProcess | None:
        return next((p for p in self._processes if p.name == name), None)

    def _stop_process(self, process: LoggedProcess, grace_s: float = 10.0) -> None:
        if process.popen.poll() is not None:
            return
        process.popen.terminate()
        try:
            process.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait(timeout=5)

    def _running_tasks(self) -> list[str]:
        answer = self.ctr("tasks", "list")
        rows = [line.split() for line in answer.stdout.decode().splitlines()[1:]]
        return [row[0] for row in rows if row and row[-1] == "RUNNING"]

    def _drain_pods(self, timeout_s: float = 60.0) -> None:
        """Delete every pod (no grace) and wait until containerd runs no container."""
        try:
            with self.client() as kube:
                for pod in kube.list(POD):
                    meta = pod["metadata"]
                    with contextlib.suppress(KubeApiError):
                        kube.delete(POD, meta["namespace"], meta["name"])
        except KubeApiError:
            return
        wait_until(lambda: not self._running_tasks(), Deadline.after(timeout_s), interval=0.5)

    def _kill_containers(self) -> None:
        """SIGKILL whatever containerd still runs (a kubelet that died before draining)."""
        for task in self._running_tasks():
            self.ctr("tasks", "kill", "--signal", "SIGKILL", task)
        wait_until(lambda: not self._running_tasks(), Deadline.after(15), interval=0.2)

    def _clean_host(self) -> None:
        if shutil.which(str(self.binaries.kube_proxy)) or self.binaries.kube_proxy.exists():
            subprocess.run(
                [str(self.binaries.kube_proxy), "--cleanup"], capture_output=True, check=False
            )
        if self._policy_ran:
            sets = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True)
            for command in cleanup_commands(filter_rules(), sets.stdout):
                subprocess.run(command, capture_output=True, check=False)
            self._policy_ran = False
        for rule in self._rules:
            subprocess.run(["iptables", "-w", "-D", "FORWARD", *rule], capture_output=True)
        self._rules.clear()
        if self._kubelet_ran:
            for command in kubelet_chain_cleanup():
                subprocess.run(command, capture_output=True, check=False)
        unmount_under(self.work_dir)
        if self._bridge_made:
            delete_link(self.network.bridge)
            self._bridge_made = False
        # the pods' network namespaces containerd made (it removes them with the sandbox;
        # a sandbox left by a crash is removed with containerd's state folder)
        shutil.rmtree(self.work_dir / "containerd" / "state", ignore_errors=True)
