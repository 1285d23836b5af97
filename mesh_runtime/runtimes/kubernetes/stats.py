"""CPU and memory of each container of a kubernetes deployment, from the kubelets' resource
metrics (`/metrics/resource`, what metrics-server and `kubectl top` read), once a second.

The same rows as the other runtimes' samplers (`t_s, role, name, pid, cpu_s, cpu_cores,
rss_mb`; roles and names as the docker runtime's: an instance pod's `sidecar` container is
role `sidecar` named `<instance>-sidecar`, its `app` container role `service` named
`<instance>`, any other pod's container its part's role and name), read through the API
server's node proxy for every node that runs one of the deployment's pods:
`cpu_s` is the growth of `container_cpu_usage_seconds_total` between two readings the
kubelet stamped differently, `cpu_cores` that over the time between the stamps, `rss_mb`
`container_memory_working_set_bytes` (the cgroup's memory less its inactive page cache;
the docker runtime's is the cgroup's anonymous memory). A row's `t_s` is the kubelet's
stamp (it refreshes its readings every few seconds, so rows come at that pace, not every
interval); `pid` is 0 (a container in a pod has no pid on this machine). A replaced pod's
containers are new series (counted from their start); a reading that fails is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh_runtime.errors import MeshproofError
from mesh_runtime.runtimes.docker.naming import PART_LABEL, ROLE_LABEL
from mesh_runtime.runtimes.docker.stats import StatsReading, Watched, stats_row
from mesh_runtime.runtimes.plan import sidecar_name
from mesh_runtime.runtimes.sampling import PeriodicSampler

CPU = "container_cpu_usage_seconds_total"
MEMORY = "container_memory_working_set_bytes"
SIDECAR_CONTAINER = "sidecar"
APP_CONTAINER = "app"


@dataclass(frozen=True)
class ContainerUsage:
    """One container's reading in a kubelet's resource metrics."""

    namespace: str
    pod: str
    container: str
    cpu_s: float
    """CPU seconds the container used since it started."""
    memory_bytes: float
    at: float
    """When the kubelet took the CPU reading, seconds since the epoch."""


def container_usage(text: str) -> list[ContainerUsage]:
    """Every container that has both a CPU and a memory reading in `text` (Prometheus'
    text format, as `/metrics/resource` answers)."""
    from prometheus_client.parser import text_string_to_metric_families

    cpu: dict[tuple[str, str, str], tuple[float, float | None]] = {}
    memory: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in (CPU, MEMORY):
                continue
            labels = sample.labels
            key = (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))
            if sample.name == CPU:
                stamp = sample.timestamp
                cpu[key] = (sample.value, None if stamp is None else float(stamp))
            else:
                memory[key] = sample.value
    out = []
    for key, (seconds, at) in cpu.items():
        if key in memory and at is not None:
            out.append(ContainerUsage(*key, cpu_s=seconds, memory_bytes=memory[key], at=at))
    return out


def process_of(labels: Mapping[str, str], container: str) -> tuple[str, str] | None:
    """(role, name) of a container of a pod with these labels; None for a pod that is not
    a part of a meshproof deployment."""
    part = labels.get(PART_LABEL)
    if part is None:
        return None
    if container == SIDECAR_CONTAINER:
        return "sidecar", sidecar_name(part)
    if container == APP_CONTAINER:
        return "service", part
    return labels.get(ROLE_LABEL, part), part


@dataclass(frozen=True)
class PodsView:
    """The deployment's pods as the sampler needs them: labels by pod name, and the nodes
    they run on."""

    labels: Mapping[str, Mapping[str, str]]
    nodes: tuple[str, ...]

    @classmethod
    def of(cls, pods: Iterable[Mapping[str, Any]]) -> PodsView:
        labels: dict[str, Mapping[str, str]] = {}
        nodes: set[str] = set()
        for pod in pods:
            labels[pod["metadata"]["name"]] = pod["metadata"].get("labels") or {}
            node = (pod.get("spec") or {}).get("nodeName")
            if node:
                nodes.add(node)
        return cls(labels, tuple(sorted(nodes)))


ListPods = Callable[[], PodsView]
"""The deployment's pods now."""
ReadNode = Callable[[str], str]
"""A node's `/metrics/resource` text."""


class KubeletStatsSampler(PeriodicSampler):
    """Samples the containers of the deployment's pods in `namespace` every `interval` s."""

    thread_name = "kubelet-stats"

    def __init__(
        self,
        namespace: str,
        *,
        list_pods: ListPods,
        read_node: ReadNode,
        t0: float,
        interval: float = 1.0,
        out: Path | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(interval=interval, out=out)
        self._on_close = close
        self._namespace = namespace
        self._list_pods = list_pods
        self._read_node = read_node
        self._t0 = t0
        self._pods: PodsView | None = None
        self._last: dict[tuple[str, str], StatsReading] = {}
        self.read_any = False
        """Whether any node's resource metrics were read (False: the table stays empty)."""
        self.last_error = ""
        """Why a node's resource metrics could not be read, last time it failed."""

    def sample(self) -> list[dict[str, Any]]:
        """Read every node once; a row for each container whose reading is newer."""
        pods = self._current_pods()
        if pods is None:
            return []
        usage = [u for node in pods.nodes for u in self._read(node)]
        if any(u.pod not in pods.labels for u in usage if u.namespace == self._namespace):
            pods = self._current_pods(refresh=True) or pods  # a new pod (one was replaced)
        new = []
        for reading in usage:
            made = self._row(pods, reading)
            if made is not None:
                new.append(made)
        self._record(new)
        return new

    def _row(self, pods: PodsView, usage: ContainerUsage) -> dict[str, Any] | None:
        if usage.namespace != self._namespace or usage.pod not in pods.labels:
            return None
        process = process_of(pods.labels[usage.pod], usage.container)
        if process is None:
            return None
        key = (usage.pod, usage.container)
        current = StatsReading(cpu_total=usage.cpu_s, rss=int(usage.memory_bytes), at=usage.at)
        previous = self._last.get(key)
        if previous is not None and current.at <= previous.at:
            return None  # the kubelet has not read it again yet
        self._last[key] = current
        role, name = process
        watched = Watched(role, name, 0, f"{usage.pod}/{usage.container}")
        return stats_row(watched, previous, current, self._t0)

    def _close(self) -> None:
        if self._on_close is not None:
            self._on_close()

    def _current_pods(self, *, refresh: bool = False) -> PodsView | None:
        if self._pods is None or refresh:
            try:
                self._pods = self._list_pods()
            except MeshproofError:
                return self._pods
        return self._pods

    def _read(self, node: str) -> list[ContainerUsage]:
        try:
            usage = container_usage(self._read_node(node))
        except (MeshproofError, ValueError) as exc:
            self.last_error = f"node {node}: {exc}"
            return []  # unreadable for now; read again next time
        self.read_any = True
        return usage

    def unread(self) -> str | None:
        """Why the run has no resource rows (one line), or None when some node was read."""
        if self.read_any:
            return None
        why = self.last_error or "no pod of the deployment was listed"
        return (
            f"no container's CPU or memory could be read from the kubelets ({why}); reading"
            " them takes `get nodes/proxy` on the kubeconfig's user: CPU and memory have no data"
        )
