"""The control plane configured from Istio objects in a real kube-apiserver: list + watch,
re-list after 410 Gone, unimplemented fields in the status, writes refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from harness.kube.testing import LocalApiServer
from mesh_runtime.control.build import build_mesh_config
from mesh_runtime.control.kube_api import IstioApi
from mesh_runtime.control.kube_source import IstioSource
from mesh_runtime.kube.client import KubeClient
from mesh_runtime.kube.resources import DESTINATION_RULE, VIRTUAL_SERVICE
from mesh_runtime.topology import load_topology
from tests.integration.control.test_control_plane import SHOP, ControlPlane, Launcher, launcher
from tests.integration.istio.istiokit import (
    abort_route,
    eventually,
    fresh_namespace,
    virtual_service,
)

pytestmark = pytest.mark.integration
__all__ = ["launcher"]  # the control plane tests' fixture: processes stopped at the end


@pytest.fixture
def namespace(kube: KubeClient) -> str:
    return fresh_namespace(kube)


def start(launcher: Launcher, server: LocalApiServer, namespace: str) -> ControlPlane:
    return launcher.start("--kubeconfig", str(server.kubeconfig), "--namespace", namespace)


def catalog_route(control: ControlPlane) -> dict[str, Any]:
    config = requests.get(f"{control.url}/v1/config", timeout=5).json()
    return dict(config["services"]["catalog"]["policy"]["http"][0])


def kube_status(control: ControlPlane) -> dict[str, Any]:
    return dict(requests.get(f"{control.url}/v1/config/status", timeout=5).json()["kubernetes"])


def test_objects_configure_the_mesh_and_changes_arrive_by_watch(
    kube: KubeClient, local_apiserver: LocalApiServer, launcher: Launcher, namespace: str
) -> None:
    """An abort written before start is served once ready; a patch and a delete through the
    API arrive as new config versions; the topology's own policies are not used."""
    kube.create(
        VIRTUAL_SERVICE, namespace, virtual_service(namespace, "catalog", [abort_route(10)])
    )
    control = start(launcher, local_apiserver, namespace)
    route = catalog_route(control)
    assert route["fault"]["abort"] == {"httpStatus": 503, "grpcStatus": None, "percentage": 10.0}
    assert route["retries"] is None, "the topology's retries must not linger"
    status = kube_status(control)
    assert status["synced"] and status["kinds"]["VirtualService"]["objects"] == 1
    version = requests.get(f"{control.url}/v1/config/status", timeout=5).json()["version"]

    kube.merge_patch(
        VIRTUAL_SERVICE,
        namespace,
        "catalog",
        {"spec": {"http": [abort_route(25)]}},
        resource_version=None,
    )
    eventually(
        lambda: (
            (catalog_route(control).get("fault") or {}).get("abort", {}).get("percentage") == 25.0
        )
    )
    kube.delete(VIRTUAL_SERVICE, namespace, "catalog")
    eventually(lambda: catalog_route(control)["fault"] is None)
    assert (
        requests.get(f"{control.url}/v1/config/status", timeout=5).json()["version"] >= version + 2
    )


def test_unimplemented_fields_are_in_the_status_once_by_name(
    kube: KubeClient, local_apiserver: LocalApiServer, launcher: Launcher, namespace: str
) -> None:
    """A mirror and an outlier minHealthPercent are listed by path in the status, logged once
    however often the objects change."""
    route = {**abort_route(5), "mirror": {"host": "catalog"}}
    kube.create(VIRTUAL_SERVICE, namespace, virtual_service(namespace, "catalog", [route]))
    rule = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "catalog", "namespace": namespace},
        "spec": {
            "host": "catalog",
            "trafficPolicy": {
                "outlierDetection": {"consecutive5xxErrors": 2, "minHealthPercent": 50}
            },
        },
    }
    kube.create(DESTINATION_RULE, namespace, rule)
    control = start(launcher, local_apiserver, namespace)
    expected = {
        f"VirtualService {namespace}/catalog: spec.http[0].mirror",
        f"DestinationRule {namespace}/catalog: spec.trafficPolicy.outlierDetection.minHealthPercent",
    }
    assert set(kube_status(control)["unimplemented"]) == expected
    for percentage in (6, 7, 8):
        kube.merge_patch(
            VIRTUAL_SERVICE,
            namespace,
            "catalog",
            {"spec": {"http": [{**route, "fault": abort_route(percentage)["fault"]}]}},
            resource_version=None,
        )
    eventually(lambda: catalog_route(control)["fault"]["abort"]["percentage"] == 8.0)
    assert set(kube_status(control)["unimplemented"]) == expected
    log = launcher.work.joinpath("control-0.log").read_text()
    assert log.count("spec.http[0].mirror") == 1, log


def test_policy_writes_are_refused_while_kubernetes_is_the_source(
    local_apiserver: LocalApiServer, launcher: Launcher, namespace: str
) -> None:
    """PATCH of a policy: 409 naming the namespace; the config is unchanged."""
    control = start(launcher, local_apiserver, namespace)
    answer = requests.patch(
        f"{control.url}/v1/services/catalog/policy",
        json={"http": []},
        headers={"Authorization": f"Bearer {control.token}"},
        timeout=5,
    )
    assert answer.status_code == 409 and namespace in answer.json()["error"]


def test_a_watch_from_a_compacted_version_lists_again(
    kube: KubeClient, local_apiserver: LocalApiServer, namespace: str
) -> None:
    """410 Gone from the real server (a resourceVersion long gone): the source lists again
    and still sees every object, then keeps watching."""
    kube.create(VIRTUAL_SERVICE, namespace, virtual_service(namespace, "catalog", [abort_route(1)]))
    source = IstioSource(
        IstioApi.connect(local_apiserver.kubeconfig, None, namespace), watch_timeout_s=1
    )
    source.start(lambda: None)
    try:
        eventually(source.synced)
        view = source._views["VirtualService"]  # its next watch starts from "1"
        view.resource_version = "1"
        eventually(lambda: source.status()["kinds"]["VirtualService"]["lists"] >= 2, timeout=15)
        kube.create(VIRTUAL_SERVICE, namespace, virtual_service(namespace, "cart", [], host="cart"))
        eventually(lambda: len(source.objects()) == 2)
        topology = load_topology(SHOP)
        base = build_mesh_config(
            topology, {i.name: "127.0.0.1:1" for i in topology.instances()}, {}
        )
        config = source.configure(base)
        assert config is not None and config.services["catalog"].policy.http[0].fault is not None
    finally:
        started = time.monotonic()
        source.stop()
        assert time.monotonic() - started < 10


def test_an_unreachable_api_server_is_in_the_status_and_nothing_is_served(
    local_apiserver: LocalApiServer, tmp_path: Path
) -> None:
    """No answer from the server: each kind's error says so, the source is not synced and
    gives no configuration (the control plane keeps /ready at 503 meanwhile)."""
    config = yaml.safe_load(local_apiserver.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    source = IstioSource(IstioApi.connect(dead, None, "shop"))
    source.start(lambda: None)
    try:
        errors = eventually(
            lambda: [k["error"] for k in source.status()["kinds"].values() if k["error"]]
        )
        assert "unreachable" in errors[0] and "127.0.0.1:1" in errors[0]
        assert not source.synced()
        topology = load_topology(SHOP)
        assert (
            source.configure(
                build_mesh_config(
                    topology, {i.name: "127.0.0.1:1" for i in topology.instances()}, {}
                )
            )
            is None
        )
    finally:
        source.stop()


def test_a_change_that_means_nothing_to_the_mesh_makes_no_new_version(
    kube: KubeClient, local_apiserver: LocalApiServer, launcher: Launcher, namespace: str
) -> None:
    """A label added to the VirtualService is seen (its resourceVersion moves) but the
    translated configuration is the same: the sidecars are not sent a new version."""
    kube.create(VIRTUAL_SERVICE, namespace, virtual_service(namespace, "catalog", [abort_route(3)]))
    control = start(launcher, local_apiserver, namespace)
    seen = kube_status(control)["kinds"]["VirtualService"]["resourceVersion"]
    version = requests.get(f"{control.url}/v1/config/status", timeout=5).json()["version"]
    patch = {"metadata": {"labels": {"team": "shop"}}}
    kube.merge_patch(VIRTUAL_SERVICE, namespace, "catalog", patch, resource_version=None)
    eventually(lambda: kube_status(control)["kinds"]["VirtualService"]["resourceVersion"] != seen)
    status = requests.get(f"{control.url}/v1/config/status", timeout=5).json()
    assert status["version"] == version and status["kubernetes"]["applied_version"] == version
