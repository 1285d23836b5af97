"""The kubernetes runtime against the session's real kube-apiserver (no node, no
controller-manager, so no pod ever exists): `k8s render`'s manifests pass a server-side
dry run; `up --no-wait` creates every object, `status` reports them and says that no pod
exists (never ready), `down` leaves nothing with the label, also after an `up` SIGKILLed
half-way; bad input is one line and exit 2."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli.k8s import render_objects
from harness.cli.main import main
from harness.kube.testing import LocalApiServer
from mesh_runtime.config.mesh import MeshConfig, ServiceEntry
from mesh_runtime.control.incluster import ApiServerError, ConfigMapApi
from mesh_runtime.control.state_configmap import ConfigMapState
from mesh_runtime.errors import ReadinessTimeout
from mesh_runtime.kube.client import KubeClient
from mesh_runtime.kube.errors import KubeInvalid
from mesh_runtime.kube.resources import (
    CONFIG_MAP,
    DEPLOYMENT,
    NAMESPACE,
    resource_of,
)
from mesh_runtime.runtimes.deployment import KubernetesPlacement
from mesh_runtime.runtimes.kubernetes.configs import STATE_CONFIGMAP, control_plane_state
from mesh_runtime.runtimes.kubernetes.meta import Meta
from mesh_runtime.runtimes.kubernetes.podstate import NO_POD
from mesh_runtime.runtimes.kubernetes.runtime import KubernetesRuntime
from tests.conftest import poll, stop_group
from tests.fixtures.kube import DEPLOYER_RULES, role_kubeconfig, service_account_token
from tests.integration.faults.faultkit import MESHPROOF, ROOT

pytestmark = pytest.mark.integration

SHOP = ROOT / "experiments" / "topologies" / "shop.yaml"
PARTS = 10  # six instances, control plane, Toxiproxy, trace sink, Prometheus
OBJECTS = 42  # the shop's objects; 4 of them the control plane's state ConfigMap and RBAC


@pytest.fixture(scope="module")
def namespace(local_apiserver: LocalApiServer) -> Iterator[str]:
    """A namespace of this module's own (the runtime does not create namespaces)."""
    name = f"rt-{uuid.uuid4().hex[:8]}"
    with local_apiserver.client() as kube:
        kube.create(NAMESPACE, None, {"metadata": {"name": name}})
    yield name
    with local_apiserver.client() as kube:
        kube.delete(NAMESPACE, None, name)


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MESHPROOF_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def labelled(kube: KubeClient, namespace: str, deployment: str) -> list[tuple[str, str]]:
    runtime = KubernetesRuntime()
    placement = KubernetesPlacement(kubeconfig="-", namespace=namespace, deployment_id=deployment)
    return [(r.kind, o["metadata"]["name"]) for r, o in runtime.labelled(kube, placement)]


def deployment_id(state_dir: Path) -> str:
    saved = yaml.safe_load((state_dir / "deployments" / "shop.json").read_text())
    return str(saved["kubernetes"]["deployment_id"])


def test_rendered_manifests_pass_a_server_side_dry_run(
    kube: KubeClient, tmp_path: Path, namespace: str
) -> None:
    out = tmp_path / "k8s"
    assert main(["k8s", "render", str(SHOP), "-o", str(out), "--namespace", namespace]) == 0
    files = sorted(out.iterdir())
    assert len(files) == OBJECTS
    for path in files:
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
        answer = kube.create(resource_of(obj), namespace, obj, dry_run=True)
        assert answer["metadata"]["labels"]["meshproof.deployment"] == "shop", path.name
    assert labelled(kube, namespace, "shop") == []  # a dry run stores nothing
    # the server really validates: a broken object is refused by the same call
    broken = copy.deepcopy(render_objects(SHOP, namespace=namespace)[-1])
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] = "Not_A_Name"
    with pytest.raises(KubeInvalid, match="ports"):
        kube.create(resource_of(broken), namespace, broken, dry_run=True)


def test_up_status_down(
    local_apiserver: LocalApiServer,
    kube: KubeClient,
    namespace: str,
    state_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    flags = ["--runtime", "kubernetes", "--kubeconfig", str(local_apiserver.kubeconfig)]
    flags += ["--namespace", namespace]
    assert main(["up", str(SHOP), *flags, "--no-wait"]) == 0, capsys.readouterr().err
    dep = deployment_id(state_dir)
    made = labelled(kube, namespace, dep)
    assert len(made) == OBJECTS
    assert {kind for kind, _ in made} == {
        "ConfigMap",
        "Secret",
        "Service",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Deployment",
    }
    config = kube.get(CONFIG_MAP, namespace, "mesh-config")
    assert "catalog-0:" in config["data"]["mesh-config.json"]

    capsys.readouterr()
    assert main(["status", "shop", "--json"]) == 1  # nothing is ready: no pod exists
    report = yaml.safe_load(capsys.readouterr().out)
    assert report["runtime"] == "kubernetes" and report["deployment_id"] == dep
    assert sum(len(names) for names in report["objects"].values()) == OBJECTS
    assert len(report["processes"]) == PARTS
    for part in report["processes"]:
        assert (part["phase"], part["ready"], part["reason"]) == ("none", False, NO_POD)
    assert main(["status", "shop"]) == 1
    table = capsys.readouterr().out
    assert "none: no pod" in table and f"meshproof.deployment={dep}" in table

    assert main(["up", str(SHOP), *flags, "--no-wait"]) == 2
    assert "already up" in capsys.readouterr().err

    assert main(["down", "shop"]) == 0
    assert labelled(kube, namespace, dep) == []
    assert not (state_dir / "deployments" / "shop.json").exists()


def test_up_waits_for_pods_with_a_deadline_and_says_why(
    local_apiserver: LocalApiServer, kube: KubeClient, namespace: str, state_dir: Path
) -> None:
    placement = KubernetesPlacement(kubeconfig=str(local_apiserver.kubeconfig), namespace=namespace)
    runtime = KubernetesRuntime(placement=placement, ready_timeout=2.0)
    with pytest.raises(ReadinessTimeout) as caught:
        runtime.up(SHOP)
    message = str(caught.value)
    assert f"0/{PARTS} parts ready after 2s" in message and NO_POD in message
    assert "\n" not in message and "meshproof down shop" in message
    deployment = runtime.load("shop")  # it stays deployed, for status and down
    assert len(labelled(kube, namespace, deployment_id(state_dir))) == OBJECTS
    runtime.down(deployment)
    assert labelled(kube, namespace, deployment_id_of(deployment)) == []


def deployment_id_of(deployment: Any) -> str:
    return str(deployment.kubernetes.deployment_id)


def test_down_after_a_sigkilled_up_removes_everything(
    local_apiserver: LocalApiServer, kube: KubeClient, namespace: str, state_dir: Path
) -> None:
    command = [*MESHPROOF, "up", str(SHOP), "--runtime", "kubernetes"]
    command += ["--kubeconfig", str(local_apiserver.kubeconfig), "--namespace", namespace]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MESHPROOF_STATE_DIR": str(state_dir)}
    child = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.DEVNULL
    )
    try:
        state = state_dir / "deployments" / "shop.json"
        poll(state.exists, timeout=30, interval=0.05, what="the state file")
        dep = deployment_id(state_dir)
        poll(lambda: labelled(kube, namespace, dep), timeout=30, interval=0.05, what="an object")
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        stop_group(child, signal.SIGKILL)
    assert labelled(kube, namespace, dep)
    assert main(["down", "shop"]) == 0
    assert labelled(kube, namespace, dep) == []


def test_down_finds_the_objects_by_label_when_the_state_file_is_gone(
    local_apiserver: LocalApiServer, kube: KubeClient, namespace: str, state_dir: Path
) -> None:
    flags = ["--kubeconfig", str(local_apiserver.kubeconfig), "--namespace", namespace]
    assert main(["up", str(SHOP), "--runtime", "kubernetes", *flags, "--no-wait"]) == 0
    dep = deployment_id(state_dir)
    (state_dir / "deployments" / "shop.json").unlink()
    assert main(["down", "shop"]) == 2  # nothing recorded, no cluster named
    assert len(labelled(kube, namespace, dep)) == OBJECTS
    assert main(["down", "shop", *flags]) == 0
    assert labelled(kube, namespace, dep) == []


def test_a_user_who_may_not_list_networkpolicies_can_still_take_the_shop_down(
    local_apiserver: LocalApiServer,
    kube: KubeClient,
    state_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A user whose Role covers every kind `up` makes but not NetworkPolicies (only a
    network_disconnect makes one, and it asks for that right first): `up`, `status` and
    `down` work; `down` leaves nothing (before: status and down were one 403 on listing
    networkpolicies, and a run's teardown left the whole shop up)."""
    namespace = f"rt-limited-{uuid.uuid4().hex[:8]}"
    kube.create(NAMESPACE, None, {"metadata": {"name": namespace}})
    kubeconfig = role_kubeconfig(
        local_apiserver, namespace, DEPLOYER_RULES, tmp_path / "deployer.kubeconfig"
    )
    flags = ["--runtime", "kubernetes", "--kubeconfig", str(kubeconfig), "--namespace", namespace]
    try:
        assert main(["up", str(SHOP), *flags, "--no-wait"]) == 0, capsys.readouterr().err
        dep = deployment_id(state_dir)
        capsys.readouterr()
        assert main(["status", "shop"]) == 1  # no pod is ready: no node here
        assert "Forbidden" not in capsys.readouterr().err
        assert main(["down", "shop"]) == 0, capsys.readouterr().err
        assert labelled(kube, namespace, dep) == []
    finally:
        kube.delete(NAMESPACE, None, namespace)


def unreachable(kubeconfig: Path, path: Path) -> Path:
    """`kubeconfig` with every cluster's server where nothing listens, written to `path`."""
    document = yaml.safe_load(kubeconfig.read_text())
    for cluster in document["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:1"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("case", ["namespace", "context", "unreachable"])
def test_bad_cluster_input_is_one_line_and_exit_2(
    case: str,
    local_apiserver: LocalApiServer,
    namespace: str,
    state_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubeconfig = local_apiserver.kubeconfig
    flags = ["--namespace", namespace]
    expected = {
        "namespace": "no namespace 'nowhere'",
        "context": "no context 'nope'",
        "unreachable": "unreachable",
    }[case]
    if case == "namespace":
        flags = ["--namespace", "nowhere"]
    if case == "context":
        flags += ["--context", "nope"]
    if case == "unreachable":
        kubeconfig = unreachable(kubeconfig, tmp_path / "kubeconfig")
    argv = ["up", str(SHOP), "--runtime", "kubernetes", "--kubeconfig", str(kubeconfig)]
    assert main([*argv, *flags, "--no-wait"]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err
    assert not (state_dir / "deployments" / "shop.json").exists()


def service_account_dir(server: LocalApiServer, namespace: str, folder: Path) -> Path:
    """What the kubelet mounts for the control plane's ServiceAccount: a token (from the
    TokenRequest API) and the API server's CA, in `folder`."""
    folder.mkdir()
    (folder / "token").write_text(service_account_token(server, namespace, "control-plane"))
    (folder / "ca.crt").write_bytes(server.ca_file.read_bytes())
    return folder


def test_the_control_plane_keeps_its_state_in_its_configmap_as_its_service_account(
    kube: KubeClient, local_apiserver: LocalApiServer, namespace: str, tmp_path: Path
) -> None:
    """With the ConfigMap, ServiceAccount, Role and RoleBinding the manifests make, and
    that ServiceAccount's token: the empty ConfigMap loads as no state, a save loads back
    in a new process's view; a writer holding an old resourceVersion conflicts and the
    higher config version stays; the Role gives no other ConfigMap."""
    for obj in control_plane_state(Meta("state-1", namespace)):
        kube.create(resource_of(obj), namespace, obj)
    account = service_account_dir(local_apiserver, namespace, tmp_path / "sa")
    api = ConfigMapApi(local_apiserver.url, account)
    first = ConfigMapState(api, namespace, STATE_CONFIGMAP)
    assert first.load() is None
    config = MeshConfig(version=5, services={"cart": ServiceEntry(name="cart")})
    first.save(config)
    second = ConfigMapState(api, namespace, STATE_CONFIGMAP)  # a new pod
    assert second.load() == config
    second.save(config.model_copy(update={"version": 6}))
    first.save(config.model_copy(update={"version": 4}))  # stale: a conflict, kept 6
    assert ConfigMapState(api, namespace, STATE_CONFIGMAP).load() == config.model_copy(
        update={"version": 6}
    )
    first.save(config.model_copy(update={"version": 7}))
    second.save(config.model_copy(update={"version": 8}))  # a conflict, but newer: written
    assert first.load() == config.model_copy(update={"version": 8})
    with pytest.raises(ApiServerError, match="403"):
        ConfigMapState(api, namespace, "mesh-config").load()


@pytest.mark.parametrize("case", ["namespace", "unreachable", "not a kubeconfig"])
def test_a_run_on_a_cluster_it_cannot_use_is_one_line_and_writes_no_run_folder(
    case: str,
    local_apiserver: LocalApiServer,
    namespace: str,
    state_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`run --runtime kubernetes` with a namespace that does not exist, a kubeconfig whose
    server does not answer, or a file that is no kubeconfig: exit 2, one line, and no run
    folder (before: a run folder recorded as ERROR, the error among five lines of a run
    that never started)."""
    kubeconfig = local_apiserver.kubeconfig
    flags = ["--namespace", "nowhere" if case == "namespace" else namespace]
    if case == "unreachable":
        kubeconfig = unreachable(kubeconfig, tmp_path / "kubeconfig")
    if case == "not a kubeconfig":
        kubeconfig = tmp_path / "hostname"
        kubeconfig.write_text("meshproof-node\n")
    out = tmp_path / "reports"
    experiment = ROOT / "experiments" / "pod-delete.yaml"
    argv = ["run", str(experiment), "--runtime", "kubernetes", "--kubeconfig", str(kubeconfig)]
    assert main([*argv, *flags, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    expected = {"namespace": "no namespace 'nowhere'", "unreachable": "unreachable"}
    assert expected.get(case, str(kubeconfig)) in err and len(err.splitlines()) == 1, err
    assert not out.exists() or not any(out.iterdir())
    assert not (state_dir / "deployments" / "shop.json").exists()


def test_a_run_whose_user_may_not_make_its_fault_is_refused_before_the_deploy(
    local_apiserver: LocalApiServer,
    kube: KubeClient,
    state_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A user who may deploy the shop (DEPLOYER_RULES) but not exec in its pods, and an
    experiment with a process_kill: `run --keep` is refused in one line naming the rights
    missing, exit 2, before anything is deployed: no Deployment in the namespace, no run
    folder (before: the shop was deployed first, about 18 s on a node, then refused)."""
    monkeypatch.setattr(KubernetesRuntime, "READY_TIMEOUT", 2.0)  # no node: no pod is ever ready
    namespace = f"rt-rbac-{uuid.uuid4().hex[:8]}"
    kube.create(NAMESPACE, None, {"metadata": {"name": namespace}})
    kubeconfig = role_kubeconfig(local_apiserver, namespace, DEPLOYER_RULES, tmp_path / "kc")
    experiment = tmp_path / "kill.yaml"
    experiment.write_text(yaml.safe_dump({
        "title": "a kill its user may not make",
        "target": {"topology": str(SHOP), "runtime": "kubernetes"},
        "load": {"rps": 10, "warmup": "1s", "duration": "5s", "connections": 2},
        "faults": [{"name": "kill", "kind": "process_kill", "target": "sidecar:catalog-1",
                    "at": "1s"}],
        "slos": ["error_rate < 1"],
    }))  # fmt: skip
    out = tmp_path / "reports"
    flags = ["--kubeconfig", str(kubeconfig), "--namespace", namespace, "--keep", "--quiet"]
    try:
        code = main(["run", str(experiment), *flags, "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert len(err.splitlines()) == 1, err
        assert "fault 'kill'" in err and "may not create pods/exec in namespace" in err, err
        assert kube.list(DEPLOYMENT, namespace) == []
        assert not out.exists() or not any(out.iterdir())
        assert not (state_dir / "deployments" / "shop.json").exists()
    finally:
        if (state_dir / "deployments" / "shop.json").exists():  # what a deploy left
            main(["down", "shop"])
        kube.delete(NAMESPACE, None, namespace)
