"""harness.kube against a real kube-apiserver: objects of the pinned CRDs created and
merge-patched with their resourceVersion, and each refusal the server can give (409, 422,
403, 404, 401, no answer) turned into one clear line of meshproof's exception tree."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.kube import (
    KubeClient,
    KubeConflict,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
    KubeUnauthorized,
    KubeUnreachable,
)
from harness.kube.credentials import User, kubeconfig_document
from harness.kube.testing import LocalApiServer
from mesh_runtime.kube.resources import (
    DESTINATION_RULE,
    HTTP_ROUTE,
    LINKERD_HTTP_ROUTE,
    SERVICE_DEFAULTS,
    SERVICE_RESOLVER,
    SERVICE_ROUTER,
    VIRTUAL_SERVICE,
    Resource,
)
from mesh_runtime.runtimes.ports import port_allocator

pytestmark = pytest.mark.integration

NS = "shop"


def virtual_service(name: str) -> dict[str, Any]:
    """catalog's VirtualService as Istio's docs write one: a route with a timeout."""
    return {
        "apiVersion": VIRTUAL_SERVICE.api_version,
        "kind": VIRTUAL_SERVICE.kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "hosts": ["catalog"],
            "http": [{"route": [{"destination": {"host": "catalog"}}], "timeout": "1s"}],
        },
    }


@pytest.fixture
def catalog(kube: KubeClient) -> dict[str, Any]:
    """A fresh VirtualService (its own name) in the shop namespace."""
    return kube.create(VIRTUAL_SERVICE, NS, virtual_service(f"catalog-{uuid.uuid4().hex[:8]}"))


def name_of(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def version_of(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["resourceVersion"])


def route_patch(**route: Any) -> dict[str, Any]:
    """A merge patch of the first HTTP route (merge patches replace lists whole)."""
    return {"spec": {"http": [{"route": [{"destination": {"host": "catalog"}}], **route}]}}


def test_virtual_service_created_and_merge_patched(
    kube: KubeClient, catalog: dict[str, Any]
) -> None:
    """A merge patch with the object's resourceVersion lands, and the server has the change."""
    patched = kube.merge_patch(
        VIRTUAL_SERVICE,
        NS,
        name_of(catalog),
        {**route_patch(timeout="2s"), "metadata": {"annotations": {"meshproof.run": "r1"}}},
        resource_version=version_of(catalog),
    )
    assert version_of(patched) != version_of(catalog)
    stored = kube.get(VIRTUAL_SERVICE, NS, name_of(catalog))
    assert stored["spec"]["http"][0]["timeout"] == "2s"
    assert stored["metadata"]["annotations"] == {"meshproof.run": "r1"}
    assert stored["spec"]["hosts"] == ["catalog"]


def test_stale_resource_version_is_one_conflict_line(
    kube: KubeClient, catalog: dict[str, Any]
) -> None:
    """A patch made with a resourceVersion someone else's edit superseded is refused (409),
    in one line, and the other edit stays."""
    name = name_of(catalog)
    kube.merge_patch(VIRTUAL_SERVICE, NS, name, route_patch(timeout="3s"), resource_version=None)
    with pytest.raises(KubeConflict) as refused:
        kube.merge_patch(
            VIRTUAL_SERVICE,
            NS,
            name,
            route_patch(timeout="9s"),
            resource_version=version_of(catalog),
        )
    text = str(refused.value)
    assert "\n" not in text
    assert "409 Conflict" in text and f"{NS}/{name}" in text
    assert "nothing was written" in text
    assert kube.get(VIRTUAL_SERVICE, NS, name)["spec"]["http"][0]["timeout"] == "3s"


def test_schema_violation_names_the_field(kube: KubeClient, catalog: dict[str, Any]) -> None:
    """A value of the wrong type is refused by the CRD's schema (422) naming the field."""
    with pytest.raises(KubeInvalid) as refused:
        kube.merge_patch(
            VIRTUAL_SERVICE,
            NS,
            name_of(catalog),
            route_patch(timeout=5),
            resource_version=version_of(catalog),
        )
    assert "spec.http[0].timeout" in refused.value.fields
    assert "spec.http[0].timeout" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_restricted_user_is_forbidden_in_one_line(
    viewer: KubeClient, catalog: dict[str, Any]
) -> None:
    """RBAC lets the viewer read the VirtualService but not patch it: 403 as one line."""
    assert name_of(viewer.get(VIRTUAL_SERVICE, NS, name_of(catalog))) == name_of(catalog)
    with pytest.raises(KubeForbidden) as refused:
        viewer.merge_patch(
            VIRTUAL_SERVICE,
            NS,
            name_of(catalog),
            route_patch(timeout="2s"),
            resource_version=version_of(catalog),
        )
    text = str(refused.value)
    assert "\n" not in text
    assert "403 Forbidden" in text and '"viewer"' in text and "patch" in text


def test_self_subject_access_review(kube: KubeClient, viewer: KubeClient) -> None:
    """SelfSubjectAccessReview answers what each user may do, per verb and namespace."""
    assert viewer.can_i("get", VIRTUAL_SERVICE, NS)
    assert viewer.can_i("list", VIRTUAL_SERVICE, NS)
    assert not viewer.can_i("patch", VIRTUAL_SERVICE, NS)
    assert not viewer.can_i("delete", VIRTUAL_SERVICE, NS, "catalog")
    assert not viewer.can_i("get", VIRTUAL_SERVICE, "default")
    assert not viewer.can_i("get", DESTINATION_RULE, NS)
    assert kube.can_i("patch", VIRTUAL_SERVICE, NS)


def test_list_by_label_and_delete(kube: KubeClient) -> None:
    """Objects are listed by label selector; a deleted one is gone (404 afterwards)."""
    run = uuid.uuid4().hex[:8]
    body = virtual_service(f"labelled-{run}")
    body["metadata"]["labels"] = {"meshproof.run": run}
    created = kube.create(VIRTUAL_SERVICE, NS, body)
    kube.create(VIRTUAL_SERVICE, NS, virtual_service(f"unlabelled-{run}"))
    listed = kube.list(VIRTUAL_SERVICE, NS, label_selector=f"meshproof.run={run}")
    assert [name_of(o) for o in listed] == [name_of(created)]
    kube.delete(VIRTUAL_SERVICE, NS, name_of(created))
    with pytest.raises(KubeNotFound):
        kube.get(VIRTUAL_SERVICE, NS, name_of(created))


def test_missing_object_is_not_found(kube: KubeClient) -> None:
    """Reading an object that does not exist is KubeNotFound naming it."""
    with pytest.raises(KubeNotFound) as refused:
        kube.get(VIRTUAL_SERVICE, NS, "no-such-route")
    assert '"no-such-route" not found' in str(refused.value)


def test_resource_without_its_crd_is_not_found(kube: KubeClient) -> None:
    """A resource no CRD defines is KubeNotFound saying the server does not serve it."""
    widgets = Resource("example.com", "v1", "widgets", "Widget")
    with pytest.raises(KubeNotFound) as refused:
        kube.list(widgets, NS)
    assert "does not serve widgets.example.com (is its CRD installed?)" in str(refused.value)


@pytest.mark.parametrize(
    "resource",
    [
        VIRTUAL_SERVICE,
        DESTINATION_RULE,
        HTTP_ROUTE,
        LINKERD_HTTP_ROUTE,
        SERVICE_ROUTER,
        SERVICE_RESOLVER,
        SERVICE_DEFAULTS,
    ],
    ids=str,
)
def test_every_crd_set_is_served(kube: KubeClient, resource: Resource) -> None:
    """Istio, Gateway API, Linkerd and Consul resources the faults patch are served."""
    assert isinstance(kube.list(resource, NS), list)


def test_unknown_token_is_unauthorized(local_apiserver: LocalApiServer, tmp_path: Path) -> None:
    """A token the server does not know is KubeUnauthorized, in one line."""
    doc = kubeconfig_document(local_apiserver.url, local_apiserver.ca_file, [User("intruder")])
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(doc))
    with KubeClient.connect(kubeconfig) as intruder, pytest.raises(KubeUnauthorized) as refused:
        intruder.get(VIRTUAL_SERVICE, NS, "catalog")
    assert "401 Unauthorized" in str(refused.value) and "\n" not in str(refused.value)


def test_no_server_is_unreachable(local_apiserver: LocalApiServer, tmp_path: Path) -> None:
    """A server that does not answer is KubeUnreachable naming its URL."""
    with port_allocator() as allocate:
        port = allocate()
    url = f"https://127.0.0.1:{port}"
    admin = local_apiserver.user("admin")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(kubeconfig_document(url, local_apiserver.ca_file, [admin]))
    )
    with KubeClient.connect(kubeconfig, timeout_s=2) as kube, pytest.raises(KubeUnreachable) as no:
        kube.version()
    assert str(no.value).startswith(f"Kubernetes API {url}: unreachable")


def test_server_version(kube: KubeClient) -> None:
    """The server reports the pinned release it was built from."""
    assert kube.version() == "v1.36.3"
