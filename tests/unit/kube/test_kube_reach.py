"""Where `run --runtime kubernetes` reaches the mesh: every URL of the handle at a
Service's ClusterIP (`kubernetes.reach`), and the run's kubernetes flags checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes.deployment import Deployment, InstanceRecord
from mesh_runtime.runtimes.kubernetes.reach import cluster_ips, host_view

REPO_ROOT = Path(__file__).resolve().parents[3]
EXPERIMENT = REPO_ROOT / "experiments" / "retry-masks-503.yaml"


def service(name: str, address: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"clusterIP": address}}


def handle() -> Deployment:
    def url(name: str, port: int) -> str:
        return f"http://{name}.shop.svc:{port}"

    return Deployment(
        topology_file="shop.yaml",
        runtime="kubernetes",
        ingress_url=url("gateway", 80),
        control_url=url("control-plane", 20003),
        toxiproxy_url=url("toxiproxy", 20001),
        prometheus_url=url("prometheus", 9090),
        trace_url=url("trace-sink", 20002),
        work_dir="/state/work/shop",
        instances=[
            InstanceRecord(service="gateway", instance="gateway-0", version="v1", app_port=20010),
            InstanceRecord(service="catalog", instance="catalog-1", version="v1", app_port=20020),
        ],
    )


ADDRESSES = {
    "gateway": "10.96.0.20",
    "gateway-0": "10.96.0.21",
    "catalog-1": "10.96.0.22",
    "control-plane": "10.96.0.23",
    "toxiproxy": "10.96.0.24",
    "prometheus": "10.96.0.25",
    "trace-sink": "10.96.0.26",
}


def test_cluster_ips_leave_out_headless_and_unallocated_services() -> None:
    """A headless Service ("None") or one without an address is not a place to send to."""
    found = [service("a", "10.96.0.5"), service("b", "None"), {"metadata": {"name": "c"}}]
    assert cluster_ips(found) == {"a": "10.96.0.5"}


def test_every_url_moves_to_its_services_cluster_ip_keeping_the_port() -> None:
    """The load enters at the ingress service's port 80; each part keeps its port; each
    instance is reached at its own Service (behaviour faults, admin)."""
    view = host_view(handle(), ADDRESSES, "gateway")
    assert view.ingress_url == "http://10.96.0.20:80"
    assert view.control_url == "http://10.96.0.23:20003"
    assert view.toxiproxy_url == "http://10.96.0.24:20001"
    assert view.prometheus_url == "http://10.96.0.25:9090"
    assert view.trace_url == "http://10.96.0.26:20002"
    assert [r.address for r in view.instances] == ["10.96.0.21", "10.96.0.22"]
    assert handle().instances[0].address == "127.0.0.1"


def test_a_part_without_an_address_is_a_deploy_error() -> None:
    """A Service missing from the list is named, not guessed."""
    addresses = {k: v for k, v in ADDRESSES.items() if k != "trace-sink"}
    with pytest.raises(DeployError, match="Service trace-sink has no ClusterIP"):
        host_view(handle(), addresses, "gateway")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--runtime", "kubernetes"], "kubernetes needs --kubeconfig FILE"),
        (["--runtime", "local", "--kubeconfig", "x"], "--kubeconfig: needs --runtime kubernetes"),
        (["--kubeconfig", __file__], "--kubeconfig: needs --runtime kubernetes (not local)"),
        (["--runtime", "kubernetes", "--kubeconfig", "/nonexistent"], "no such kubeconfig"),
    ],
)
def test_run_refuses_bad_kubernetes_flags_in_one_line(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and one line naming the flag, before anything is deployed."""
    assert main(["run", str(EXPERIMENT), *flags, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_a_run_off_the_cluster_is_told_where_to_run() -> None:
    """An ingress address this machine cannot open is one DeployError line naming it and
    saying to run on a node (here: a loopback port nothing listens on)."""
    import socket

    from mesh_runtime.runtimes.kubernetes.reach import require_reachable

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = handle().model_copy(update={"ingress_url": f"http://127.0.0.1:{port}"})
    with pytest.raises(DeployError, match=f"cannot reach the mesh's ingress at 127.0.0.1:{port}"):
        require_reachable(closed, timeout_s=1)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        require_reachable(handle().model_copy(update={"ingress_url": f"http://127.0.0.1:{port}"}))
