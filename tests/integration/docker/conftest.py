"""Fixtures of the docker tests: a real Docker engine (its absence fails the run in CI),
meshproof's images (built once, cached by content), and a shop deployed in containers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.docker import DockerRuntime, ImageBuilder, Images
from mesh_runtime.runtimes.docker.engine import Engine, connect
from mesh_runtime.runtimes.docker.naming import deployment_id

REPO_ROOT = Path(__file__).resolve().parents[3]
SHOP = REPO_ROOT / "experiments" / "topologies" / "shop.yaml"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


@pytest.fixture(scope="session")
def docker_client() -> Any:
    """The local engine; in CI a missing engine is a failure, elsewhere a skip."""
    try:
        return connect(timeout=30)
    except DeployError as exc:
        if in_ci():
            pytest.fail(f"CI=true and the Docker engine is not reachable: {exc}")
        pytest.skip(f"no Docker engine: {exc}")


@pytest.fixture(scope="session")
def images(docker_client: Any) -> Images:
    """meshproof/mesh and meshproof/toxiproxy, built only when their content changed."""
    return ImageBuilder(docker_client).ensure()


def leftovers(client: Any, deployment: Deployment) -> dict[str, list[str]]:
    return Engine(client).leftovers(deployment_id(deployment.name, deployment.work_dir))


@pytest.fixture(scope="module")
def shop(
    docker_client: Any, images: Images, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DockerRuntime, Deployment]]:
    """The shop in containers for a module's tests; taken down (and checked) afterwards."""
    root = tmp_path_factory.mktemp("docker-state")
    runtime = DockerRuntime(state_root=root, client=docker_client)
    deployment = runtime.up(SHOP)
    try:
        yield runtime, deployment
    finally:
        runtime.down(runtime.load(deployment.name))
        assert not any(leftovers(docker_client, deployment).values())
