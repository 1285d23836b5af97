"""The shop in containers: up, status, a traced request, container faults and their
rollback from the ledger entry alone, each container seeing only its own secrets, and down
leaving nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.faults import FaultContext, RollbackExecutor, make_injector
from harness.observe.span_flush import flush_span_producers
from harness.spec.faults import ContainerFault
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.docker import DockerRuntime
from mesh_runtime.runtimes.docker.engine import Engine
from mesh_runtime.runtimes.plan import PlanFiles
from tests.conftest import poll

pytestmark = [pytest.mark.integration, pytest.mark.docker]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SERVICES = {"gateway", "frontend", "catalog", "cart", "inventory"}


def test_up_runs_every_part_in_a_container_pods_shared_and_all_ready(
    shop: tuple[DockerRuntime, Deployment], docker_client: Any
) -> None:
    """status: every part ready; apps and sidecars join their pod; Prometheus on the host."""
    runtime, deployment = shop
    report = runtime.status(deployment)
    assert report["runtime"] == "docker"
    assert all(p["ready"] for p in report["processes"]), report["processes"]
    containers = [r for r in deployment.processes if r.container_id]
    assert {r.role for r in containers} == {
        "trace-sink",
        "toxiproxy",
        "control-plane",
        "service",
        "sidecar",
    }
    assert [r.role for r in deployment.processes if not r.container_id] == ["prometheus"]
    api = docker_client.api
    pod = runtime.container_of(deployment, "catalog-1", pod=True)
    pod_id = api.inspect_container(pod)["Id"]
    for name in ("catalog-1", "catalog-1-sidecar"):
        record = deployment.process(name)
        mode = api.inspect_container(record.container_id)["HostConfig"]["NetworkMode"]
        assert mode == f"container:{pod_id}"
    ports = api.inspect_container(pod)["HostConfig"]["PortBindings"]
    assert all(b[0]["HostIp"] == "127.0.0.1" for b in ports.values())


def test_a_request_through_the_gateway_has_its_whole_trace_in_the_sink(
    shop: tuple[DockerRuntime, Deployment],
) -> None:
    """Every hop's spans (app and sidecar, in and out) reach the trace sink container, and
    are in its file once every sidecar and app said it flushed (through the published
    ports, a sidecar's with the admin token)."""
    _, deployment = shop
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    response = requests.get(
        deployment.ingress_url, headers={"traceparent": traceparent}, timeout=10
    )
    assert response.status_code == 200

    assert flush_span_producers(deployment) == []
    lines = Path(str(deployment.trace_file)).read_text().splitlines()
    found = [json.loads(line) for line in lines if TRACE_ID in line]
    assert {s["service"] for s in found if s["name"].endswith(" handle")} == SERVICES
    inbound = [s for s in found if s["name"].startswith("inbound")]
    outbound = [s for s in found if s["name"].startswith("outbound")]
    assert len(inbound) == 5 and len(outbound) == 4
    assert all(s["trace_id"] == TRACE_ID for s in found)


def _fault(kind: str, target: str) -> ContainerFault:
    return ContainerFault(name=f"probe-{kind}", kind=kind, target=target)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "target", "container", "faulted"),
    [
        ("container_kill", "sidecar:catalog-1", "catalog-1-sidecar", "exited"),
        ("container_pause", "catalog-1", "catalog-1", "paused"),
        ("network_disconnect", "catalog-1", "catalog-1-pod", "detached"),
    ],
)
def test_container_fault_applies_and_its_ledger_entry_alone_undoes_it(
    shop: tuple[DockerRuntime, Deployment],
    docker_client: Any,
    kind: str,
    target: str,
    container: str,
    faulted: str,
) -> None:
    """The fault shows in Docker; the rollback entry (as recover runs it) restores the part."""
    runtime, deployment = shop
    ctx = FaultContext(deployment=runtime.load(deployment.name), runtime=runtime)
    injector = make_injector(_fault(kind, target), ctx)
    entry = json.loads(json.dumps(injector.rollback_entry().to_json()))  # as the ledger holds it
    engine = Engine(docker_client)
    part = container.removesuffix("-pod")
    name = runtime.container_of(ctx.deployment, part, pod=container.endswith("-pod"))
    network = runtime.network_of(ctx.deployment)
    injector.apply()
    try:
        if faulted == "detached":
            assert network not in engine.networks_of(name)
        else:
            assert engine.state(name).status == faulted
        # The mesh masks one faulted catalog replica: retries go to the other one.
        assert requests.get(deployment.ingress_url, timeout=10).status_code == 200
    finally:
        RollbackExecutor()(entry)
    assert engine.state(name).status == "running"
    assert network in engine.networks_of(runtime.container_of(ctx.deployment, part, pod=True))
    current = runtime.load(deployment.name)
    poll(lambda: all(p["ready"] for p in runtime.status(current)["processes"]), timeout=30)


def test_container_restart_is_graceful_and_comes_back_ready(
    shop: tuple[DockerRuntime, Deployment],
) -> None:
    """container_restart: SIGTERM, start, ready again, with a new main process."""
    runtime, deployment = shop
    ctx = FaultContext(deployment=runtime.load(deployment.name), runtime=runtime)
    before = ctx.deployment.process("catalog-0").pid
    injector = make_injector(_fault("container_restart", "catalog-0"), ctx)
    injector.rollback_entry()
    injector.apply()
    injector.revert()
    after = runtime.load(deployment.name).process("catalog-0")
    assert after.pid != before
    assert requests.get(deployment.ingress_url, timeout=10).status_code == 200


def test_stats_sampler_reads_every_container(
    shop: tuple[DockerRuntime, Deployment],
) -> None:
    """One row per container per interval, with the psutil sampler's columns."""
    runtime, deployment = shop
    sampler = runtime.stats_sampler(deployment, t0=0.0)
    sampler.sample()
    for _ in range(3):
        requests.get(deployment.ingress_url, timeout=10)
    rows = sampler.sample()
    names = {r["name"] for r in rows}
    assert names == {r.name for r in deployment.processes if r.container_id}
    sidecar = next(r for r in rows if r["name"] == "gateway-0-sidecar")
    assert sidecar["rss_mb"] > 5 and sidecar["cpu_s"] >= 0


def _run(container: Any, *command: str) -> tuple[int, str]:
    """A command in a running container (docker exec): its exit code and output."""
    result = container.exec_run(list(command), user="0:0")
    return int(result.exit_code), result.output.decode("utf-8", errors="replace")


def test_a_sidecar_container_holds_its_own_credential_and_no_other_secret(
    shop: tuple[DockerRuntime, Deployment], docker_client: Any
) -> None:
    """catalog-0's sidecar reads its credential and the admin token (read-only); cart's
    credential, the CA key and bootstrap secret, and the control token are not in it; its
    app sees nothing of the work dir; the mesh still serves through the gateway."""
    _, deployment = shop
    files = PlanFiles(Path(deployment.work_dir))
    assert (files.ca_dir / "root-key.pem").is_file() and files.credential("cart-0").is_file()
    sidecar = docker_client.containers.get(deployment.process("catalog-0-sidecar").container_id)
    own = files.credential("catalog-0")
    assert _run(sidecar, "cat", str(own)) == (0, own.read_text())
    assert _run(sidecar, "ls", "-A", str(files.work_dir)) == (0, "admin-token\ncredentials\n")
    assert _run(sidecar, "ls", "-A", str(files.credentials)) == (0, "catalog-0\n")
    for secret in (
        files.credential("cart-0"),
        files.ca_dir / "root-key.pem",
        files.bootstrap_secret,
        files.control_token,
    ):
        assert _run(sidecar, "test", "-e", str(secret))[0] == 1, f"{secret} is in the sidecar"
    assert _run(sidecar, "sh", "-c", f"echo x >> {own}")[0] != 0, "the credential is writable"
    app = docker_client.containers.get(deployment.process("catalog-0").container_id)
    assert _run(app, "test", "-e", str(files.work_dir))[0] == 1
    assert requests.get(deployment.ingress_url, timeout=10).status_code == 200


def test_control_plane_container_restart_resumes_from_its_state_file(
    shop: tuple[DockerRuntime, Deployment],
) -> None:
    """The control plane writes its state file in its own mounted folder; restarted, it
    comes back at the same config version."""
    runtime, deployment = shop
    state_file = Path(deployment.work_dir) / "control-plane" / "control-state.json"
    with ControlPlaneClient(str(deployment.control_url), deployment.control_token) as client:
        version = client.patch_policy("catalog", {"http": [{"timeout": "9s"}]})
    assert json.loads(state_file.read_text())["version"] == version
    runtime.restart(runtime.load(deployment.name), "control-plane")
    with ControlPlaneClient(str(deployment.control_url), deployment.control_token) as client:
        assert client.status()["version"] == version
    assert requests.get(deployment.ingress_url, timeout=10).status_code == 200
