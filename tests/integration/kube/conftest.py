"""A real Kubernetes API server for the tests: etcd + kube-apiserver on 127.0.0.1, started
once per session, with the pinned CRDs installed and Established, RBAC on, and two users:
`admin` (system:masters) and `viewer` (may only get/list/watch VirtualServices in the
namespace `shop`). In CI a missing binary or CRD set fails the run; elsewhere it skips
with the reason. The server's data directory is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.kube import KubeClient, install_crds
from harness.kube.crds import crd_files, default_crd_dir
from harness.kube.resources import NAMESPACE, ROLE, ROLE_BINDING
from harness.kube.testing import ApiServerBinaries, LocalApiServer, User
from mesh_runtime.errors import ToolNotFound

NAMESPACE_NAME = "shop"
VIEWER = "viewer"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def missing(reason: str) -> None:
    """Fail in CI (set-up should have provided it), skip elsewhere; either way say why."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def apiserver_binaries() -> ApiServerBinaries:
    try:
        return ApiServerBinaries.find()
    except ToolNotFound as exc:
        missing(str(exc))
        raise


@pytest.fixture(scope="session")
def crd_paths() -> list[Path]:
    directory = default_crd_dir()
    paths = crd_files(directory)
    if not paths:
        missing(f"no CRDs in {directory}: run `make setup` (or `bash .ci/setup.sh kubernetes`)")
    return paths


def viewer_rbac(namespace: str) -> tuple[dict[str, object], dict[str, object]]:
    """A Role that may read VirtualServices in `namespace`, bound to the viewer user."""
    role = {
        "apiVersion": ROLE.api_version,
        "kind": ROLE.kind,
        "metadata": {"name": "virtualservice-reader", "namespace": namespace},
        "rules": [
            {
                "apiGroups": ["networking.istio.io"],
                "resources": ["virtualservices"],
                "verbs": ["get", "list", "watch"],
            }
        ],
    }
    binding = {
        "apiVersion": ROLE_BINDING.api_version,
        "kind": ROLE_BINDING.kind,
        "metadata": {"name": "viewer-reads-virtualservices", "namespace": namespace},
        "roleRef": {"apiGroup": ROLE.group, "kind": ROLE.kind, "name": "virtualservice-reader"},
        "subjects": [{"apiGroup": ROLE.group, "kind": "User", "name": VIEWER}],
    }
    return role, binding


@pytest.fixture(scope="session")
def local_apiserver(
    apiserver_binaries: ApiServerBinaries,
    crd_paths: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalApiServer]:
    """The session's API server, CRDs Established, namespace `shop` with the viewer's Role."""
    work = tmp_path_factory.mktemp("kube-apiserver")
    server = LocalApiServer(work, apiserver_binaries, users=[User(VIEWER)])
    try:
        server.start()
        with server.client() as kube:
            began = time.monotonic()
            server.timings["crds"] = len(install_crds(kube, crd_paths))
            server.timings["crds_established_s"] = time.monotonic() - began
            kube.create(NAMESPACE, None, {"metadata": {"name": NAMESPACE_NAME}})
            for resource, body in zip(
                (ROLE, ROLE_BINDING), viewer_rbac(NAMESPACE_NAME), strict=True
            ):
                kube.create(resource, NAMESPACE_NAME, body)
        server.timings["fixture_ready_s"] = (
            server.timings["start_to_ready_s"] + (server.timings["crds_established_s"])
        )
        yield server
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def kube(local_apiserver: LocalApiServer) -> Iterator[KubeClient]:
    """A client acting as the admin user."""
    with local_apiserver.client() as client:
        yield client


@pytest.fixture
def viewer(local_apiserver: LocalApiServer) -> Iterator[KubeClient]:
    """A client acting as the restricted user."""
    with local_apiserver.client(VIEWER) as client:
        yield client
