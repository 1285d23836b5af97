"""Picking a container's processes from a pod's process listing (the shape a real node
printed: cgroup v1 paths holding the container id), its main process, and the target a
process or container fault names on the kubernetes runtime."""

from __future__ import annotations

import pytest

from harness.errors import FaultError
from harness.faults.kube_process import pod_container, started_again, still_running
from mesh_runtime.runtimes.deployment import Deployment, InstanceRecord
from mesh_runtime.runtimes.kubernetes.procs import parse_listing, parse_stat

PAUSE, APP, SIDECAR = "2a4d29c0", "87f2d5be", "b8409188"


def stat(pid: int, comm: str, start: int, state: str = "S", ppid: int = 0) -> str:
    rest = " ".join(["0"] * 12)
    return (
        f"/proc/{pid}/stat:{pid} ({comm}) {state} {ppid} {pid} {pid} 0 -1 4194560 {rest} {start} 1"
    )


def cgroup(pid: int, container: str) -> str:
    return (
        f"/proc/{pid}/cgroup:0::/k8s.io/{container}\n"
        f"/proc/{pid}/cgroup:4:memory:/k8s.io/{container}\n"
        f"/proc/{pid}/cgroup:1:cpu:/k8s.io/{container}"
    )


def listing(self_pid: int, *processes: tuple[int, str, int, str, int]) -> str:
    lines = [f"self {self_pid}"]
    lines += [stat(pid, comm, start, ppid=ppid) for pid, comm, start, _, ppid in processes]
    lines += [cgroup(pid, container) for pid, _, _, container, _ in processes]
    return "\n".join(lines) + "\n"


SIDECAR_VIEW = listing(
    40,
    (1, "pause", 104190, PAUSE, 0),
    (13, "python", 104287, APP, 0),
    (18, "python", 104339, SIDECAR, 0),
    (25, "python", 104400, SIDECAR, 18),  # a worker the sidecar forked
    (40, "grep", 106680, SIDECAR, 0),  # the listing itself
)


def test_the_containers_processes_are_those_in_the_listings_own_cgroup() -> None:
    """Seen from the sidecar container: its main process and its child, not the app, not
    the pause container, not the grep that made the listing."""
    found = parse_listing(SIDECAR_VIEW)
    assert [(p.pid, p.start) for p in found.own_container()] == [(18, 104339), (25, 104400)]
    main = found.main_process()
    assert main is not None and (main.pid, main.comm) == (18, "python")


def test_a_cgroup_v2_namespace_view_picks_the_same_way() -> None:
    """With a private cgroup namespace the container's own processes read `0::/` and the
    others `0::/../<id>`: equality with its own line still picks exactly them."""
    text = "\n".join(
        [
            "self 9",
            stat(1, "pause", 100),
            stat(5, "python", 200),
            stat(7, "python", 300),
            stat(9, "grep", 400),
            "/proc/1/cgroup:0::/../pause",
            "/proc/5/cgroup:0::/../app",
            "/proc/7/cgroup:0::/",
            "/proc/9/cgroup:0::/",
        ]
    )
    assert [p.pid for p in parse_listing(text).own_container()] == [7]


def test_a_container_with_no_process_left_has_no_main_process() -> None:
    """Only the listing runs in it (the main process has just ended)."""
    text = listing(40, (1, "pause", 1, PAUSE, 0), (40, "grep", 9, SIDECAR, 0))
    assert parse_listing(text).main_process() is None


def test_a_command_name_with_spaces_and_parentheses_is_read_whole() -> None:
    """Fields are counted from the last ')' of the stat line."""
    line = stat(12, "odd) (name", 555, state="T", ppid=3).partition(":")[2]
    assert parse_stat(line) == (3, "T", "odd) (name", 555)
    assert parse_stat("12 (torn") is None


def test_not_a_listing_is_refused() -> None:
    """Without its `self` line the text is not a listing (ValueError, for one message)."""
    with pytest.raises(ValueError, match="not a process listing"):
        parse_listing("sh: grep: not found\n")


def test_only_the_processes_that_were_stopped_are_resumed() -> None:
    """(pid, start) names a process: a pid reused by another process is left alone, a
    process that ended is skipped."""
    found = parse_listing(SIDECAR_VIEW)
    assert still_running(found, [(18, 104339), (25, 1), (77, 5)]) == [18]


def deployment(mesh: bool = True) -> Deployment:
    instance = InstanceRecord(
        service="catalog",
        instance="catalog-1",
        version="v1",
        app_port=8080,
        inbound_port=15006 if mesh else None,
        outbound_port=15001 if mesh else None,
        admin_port=15000 if mesh else None,
    )
    return Deployment(
        topology_file="shop.yaml",
        runtime="kubernetes",
        ingress_url="http://x",
        work_dir="/tmp/x",
        instances=[instance],
        control_url="http://control-plane:20003" if mesh else None,
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("sidecar:catalog-1", ("catalog-1", "sidecar")),
        ("service:catalog-1", ("catalog-1", "app")),
        ("catalog-1", ("catalog-1", "app")),
        ("control-plane", ("control-plane", "control-plane")),
        ("toxiproxy", ("toxiproxy", "toxiproxy")),
        ("container:catalog-1-sidecar", ("catalog-1", "sidecar")),
        ("container:catalog-1", ("catalog-1", "app")),
        ("container:trace-sink", ("trace-sink", "trace-sink")),
    ],
)
def test_a_target_names_a_container_of_a_pod(target: str, expected: tuple[str, str]) -> None:
    """The part (its Deployment's pod, by label) and the container's name in it."""
    assert pod_container(deployment(), target) == expected


@pytest.mark.parametrize(
    ("target", "mesh", "message"),
    [
        ("sidecar:catalog-7", True, "instances: catalog-1"),
        ("sidecar:catalog-1", False, "catalog-1 has no sidecar"),
        ("control-plane", False, "runs no control plane"),
    ],
)
def test_a_target_the_deployment_lacks_is_one_line(target: str, mesh: bool, message: str) -> None:
    """FaultError naming what is there, before anything is signalled."""
    with pytest.raises(FaultError, match=message):
        pod_container(deployment(mesh), target)


def pod(restarts: int, ready: bool, state: str = "running") -> dict[str, object]:
    status = {"name": "sidecar", "restartCount": restarts, "ready": ready, "state": {state: {}}}
    return {"status": {"containerStatuses": [{"name": "app", "restartCount": 9}, status]}}


def test_started_again_needs_a_new_restart_running_and_ready() -> None:
    """Ready still at the old count is the kubelet not having noticed the kill yet."""
    assert not started_again(pod(0, True), "sidecar", 0)
    assert not started_again(pod(1, False), "sidecar", 0)
    assert not started_again(pod(1, False, "waiting"), "sidecar", 0)
    assert started_again(pod(1, True), "sidecar", 0)
    assert not started_again({"status": {}}, "sidecar", 0)
