"""The external runtime deploys nothing: a state file with the target's URLs, kept until
`down`, refusing a second run meanwhile; no process of the mesh to restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.registry import EXTERNAL, deployed_topology, make_runtime, runtime_of

TARGET = {
    "name": "staging",
    "mesh": "consul",
    "ingress": {"url": "https://127.0.0.1:8443", "host": "shop", "insecure_skip_verify": True},
    "prometheus": {"url": "http://127.0.0.1:9090", "matchers": {"namespace": "shop"}},
    "toxiproxy": {
        "url": "http://127.0.0.1:8474",
        "proxies": [{"name": "a--b", "edge": "a->b"}],
    },
}


def target_file(tmp_path: Path) -> Path:
    path = tmp_path / "staging.yaml"
    path.write_text(yaml.safe_dump(TARGET))
    return path


def test_up_writes_a_state_file_and_down_forgets_it(tmp_path: Path) -> None:
    """up: the target's URLs and access in a state file, no process; down: the file is gone."""
    root = tmp_path / "state"
    runtime = make_runtime(EXTERNAL, state_root=root)
    deployment = runtime.up(target_file(tmp_path))
    assert deployment.name == "external-staging"
    assert deployment.processes == [] and deployment.instances == []
    assert deployment.ingress_url == "https://127.0.0.1:8443"
    assert deployment.ingress_access().request_headers() == {"Host": "shop"}
    access = deployment.prometheus_access()
    assert access is not None and access.selector() == 'namespace="shop"'
    assert [(p.name, p.edge) for p in deployment.proxies] == [("a--b", "a->b")]
    path = state.state_file(root.resolve(), "external-staging")
    assert state.load(path) == deployment
    assert runtime_of(deployment, state_root=root).name == "external"
    with pytest.raises(DeployError, match="meshproof down external-staging"):
        runtime.refuse_if_running("staging")
    with pytest.raises(DeployError, match="meshproof runs no process"):
        runtime.restart(deployment, "catalog-0")
    runtime.down(deployment)
    assert not path.exists()
    runtime.refuse_if_running("staging")


def test_no_mesh_mode_is_refused(tmp_path: Path) -> None:
    """An external mesh runs as it is: no no-mesh deployment of it."""
    with pytest.raises(DeployError, match="runs as it is"):
        make_runtime(EXTERNAL, state_root=tmp_path).up(target_file(tmp_path), mode="no-mesh")


def test_deployed_topology_of_each_runtime(tmp_path: Path) -> None:
    """The analysis' topology: the topology file, or the target file's call graph."""
    assert deployed_topology(EXTERNAL, target_file(tmp_path)).name == "staging"
    shop = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop.yaml"
    assert deployed_topology("local", shop).name == "shop"


def test_reference_deployment_access_comes_from_its_urls() -> None:
    """A deployment meshproof made: plain ingress, its Prometheus without auth or matchers."""
    deployment = Deployment(
        topology_file="t", ingress_url="http://127.0.0.1:1", prometheus_url="http://127.0.0.1:2",
        work_dir="/tmp/w",
    )  # fmt: skip
    assert deployment.ingress_access().url == "http://127.0.0.1:1"
    access = deployment.prometheus_access()
    assert access is not None and access.selector() == "" and access.headers() == {}
    assert deployment.model_copy(update={"prometheus_url": None}).prometheus_access() is None


def test_status_and_down_find_it_by_name_or_target_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`meshproof status TARGETFILE` and `down external-<name>` find the external
    deployment; down forgets it (the state file of a killed run, say)."""
    from harness.cli.main import main

    root = tmp_path / "state"
    monkeypatch.setenv(state.STATE_DIR_ENV, str(root))
    path = target_file(tmp_path)
    make_runtime(EXTERNAL, state_root=root).up(path)
    assert main(["status", str(path), "--json"]) == 0
    assert '"runtime": "external"' in capsys.readouterr().out
    assert main(["down", "external-staging"]) == 0
    assert not state.state_file(root.resolve(), "external-staging").exists()


def test_up_refuses_a_target_file_naming_it() -> None:
    """A target file given to `up` (which takes a topology) says what it is."""
    from mesh_runtime.errors import TopologyError
    from mesh_runtime.topology import load_topology

    example = Path(__file__).resolve().parents[3] / "experiments" / "targets" / "staging-istio.yaml"
    with pytest.raises(TopologyError, match="this is a target file"):
        load_topology(example)
