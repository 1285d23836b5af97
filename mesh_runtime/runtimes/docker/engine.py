"""The Docker engine through the Docker SDK: the few calls the runtime makes.

Every SDK error is translated here (`DeployError`, or the caller's error type for fault
operations); nothing above this module imports `docker`. Containers are made with the
low-level API because it is the one that sets network aliases at creation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

from mesh_runtime.errors import DeployError, MeshproofError
from mesh_runtime.runtimes.docker.mounts import binds
from mesh_runtime.runtimes.docker.naming import (
    DEPLOYMENT_LABEL,
    RUN_REPOSITORY,
    container_name,
    labels,
    network_name,
)
from mesh_runtime.runtimes.docker.specs import ContainerSpec

T = TypeVar("T")
CONNECT_HINT = "run `make setup`, which installs docker.io and starts dockerd"


def connect(timeout: float = 60.0) -> Any:
    """A Docker SDK client of the local engine, checked with a ping."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except DockerException as exc:
        raise DeployError(f"cannot reach the Docker engine ({exc}); {CONNECT_HINT}") from None
    return client


@dataclass(frozen=True)
class ContainerState:
    id: str
    name: str
    status: str
    """created, running, paused, restarting, exited, dead; 'missing' when it is gone."""
    pid: int
    started_at: str
    exit_code: int

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused")


@dataclass(frozen=True)
class SharedContainerOptions:
    """What every container of a deployment shares."""

    deployment: str
    network: str
    user: str = f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else ""


class Engine:
    """One Docker engine; `error` is the type SDK errors become (DeployError, or the harness's FaultError)."""

    def __init__(self, client: Any, error: type[MeshproofError] = DeployError) -> None:
        self.client = client
        self._error = error

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        from docker.errors import DockerException

        try:
            yield
        except (DockerException, requests.RequestException, ValueError) as exc:
            # The SDK lets a broken answer (an empty body from a container being removed)
            # through as a JSON or connection error of requests.
            raise self._error(f"docker: {what}: {_explain(exc)}") from None

    # --- networks and images -----------------------------------------------------------

    def create_network(self, deployment: str) -> str:
        name = network_name(deployment)
        with self._translated(f"create network {name}"):
            network = self.client.networks.create(
                name, driver="bridge", labels=labels(deployment), check_duplicate=True
            )
        return str(network.id)

    def tag(self, image: str, tag: str) -> None:
        repository, _, name = tag.partition(":")
        with self._translated(f"tag {image} as {tag}"):
            self.client.images.get(image).tag(repository, name)

    # --- containers ----------------------------------------------------------------------

    def run(
        self, spec: ContainerSpec, image: str, options: SharedContainerOptions
    ) -> ContainerState:
        """Create and start `spec`'s container; its state once started."""
        api = self.client.api
        name = container_name(options.deployment, spec.name)
        host_config: dict[str, Any] = {
            "port_bindings": {port: ("127.0.0.1", port) for port in spec.publish},
        }
        if spec.mounts:  # only the part's own files of the work dir, never the whole dir
            host_config["binds"] = binds(spec.mounts)
        networking = None
        if spec.pod is not None:
            host_config["network_mode"] = (
                f"container:{container_name(options.deployment, spec.pod)}"
            )
        else:
            host_config["network_mode"] = options.network
            endpoint = api.create_endpoint_config(aliases=[spec.alias] if spec.alias else [])
            networking = api.create_networking_config({options.network: endpoint})
        with self._translated(f"start {name}"):
            created = api.create_container(
                image,
                command=list(spec.command),
                name=name,
                user=options.user or None,
                environment=dict(spec.env),
                labels=labels(options.deployment, spec.name, spec.role),
                ports=list(spec.publish) or None,
                host_config=api.create_host_config(**host_config),
                networking_config=networking,
                detach=True,
            )
            api.start(created["Id"])
        return self.state(created["Id"])

    def state(self, container: str) -> ContainerState:
        """A container's state by id or name; status 'missing' when there is none."""
        info = self._call(
            lambda: self.client.api.inspect_container(container),
            f"inspect {container}",
            missing_ok=True,
        )
        if info is None:
            return ContainerState(container, container, "missing", 0, "", 0)
        status = info.get("State", {})
        return ContainerState(
            id=str(info["Id"]),
            name=str(info.get("Name", "")).lstrip("/"),
            status=str(status.get("Status", "unknown")),
            pid=int(status.get("Pid") or 0),
            started_at=str(status.get("StartedAt", "")),
            exit_code=int(status.get("ExitCode") or 0),
        )

    def logs(self, container: str, tail: int | str = 20) -> str:
        from docker.errors import DockerException

        try:
            raw = self.client.api.logs(container, tail=tail, stdout=True, stderr=True)
        except DockerException:
            return ""
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)

    def kill(self, container: str, signal: int | str = "SIGKILL") -> None:
        self._call(lambda: self.client.api.kill(container, signal=signal), f"kill {container}")

    def pause(self, container: str) -> None:
        self._call(lambda: self.client.api.pause(container), f"pause {container}")

    def unpause(self, container: str) -> None:
        self._call(lambda: self.client.api.unpause(container), f"unpause {container}")

    def start(self, container: str) -> None:
        self._call(lambda: self.client.api.start(container), f"start {container}")

    def restart(self, container: str, grace: float) -> None:
        self._call(
            lambda: self.client.api.restart(container, timeout=int(grace)), f"restart {container}"
        )

    def disconnect(self, network: str, container: str) -> None:
        self._call(
            lambda: self.client.api.disconnect_container_from_network(
                container, network, force=True
            ),
            f"disconnect {container} from {network}",
        )

    def connect(self, network: str, container: str, alias: str | None) -> None:
        self._call(
            lambda: self.client.api.connect_container_to_network(
                container, network, aliases=[alias] if alias else None
            ),
            f"connect {container} to {network}",
        )

    def networks_of(self, container: str) -> list[str]:
        with self._translated(f"inspect {container}"):
            info = self.client.api.inspect_container(container)
        return sorted((info.get("NetworkSettings", {}).get("Networks") or {}).keys())

    def stats(self, container: str) -> dict[str, Any]:
        """One reading of the stats API (one-shot: no two-sample wait)."""
        with self._translated(f"stats of {container}"):
            result: dict[str, Any] = self.client.api.stats(container, stream=False, one_shot=True)
        return result

    # --- a deployment's leftovers ---------------------------------------------------------

    def leftovers(self, deployment: str) -> dict[str, list[str]]:
        """Names of the containers, networks and run tags carrying the deployment's id."""
        selector = {"label": f"{DEPLOYMENT_LABEL}={deployment}"}
        with self._translated(f"list what {deployment} left"):
            containers = self.client.api.containers(all=True, filters=selector)
            networks = self.client.api.networks(filters=selector)
            images = self.client.api.images(name=RUN_REPOSITORY)
        tags = [
            tag
            for image in images
            for tag in image.get("RepoTags") or []
            if tag.startswith(f"{RUN_REPOSITORY}:{deployment}-")
        ]
        return {
            "containers": sorted(str(c["Names"][0]).lstrip("/") for c in containers),
            "networks": sorted(str(n["Name"]) for n in networks),
            "tags": sorted(tags),
        }

    def remove_all(self, deployment: str) -> dict[str, list[str]]:
        """Force-remove every container, network and run tag of the deployment; what is left."""
        found = self.leftovers(deployment)
        for name in found["containers"]:
            self._call(
                lambda n=name: self.client.api.remove_container(n, force=True, v=True),  # type: ignore[misc]
                f"remove {name}",
                missing_ok=True,
            )
        for name in found["networks"]:
            self._call(
                lambda n=name: self.client.api.remove_network(n),  # type: ignore[misc]
                f"remove network {name}",
                missing_ok=True,
            )
        for tag in found["tags"]:
            self._call(
                lambda t=tag: self.client.api.remove_image(t, noprune=True),  # type: ignore[misc]
                f"untag {tag}",
                missing_ok=True,
            )
        return self.leftovers(deployment)

    def _call(self, call: Callable[[], T], what: str, *, missing_ok: bool = False) -> T | None:
        from docker.errors import DockerException, NotFound

        try:
            return call()
        except NotFound as exc:
            if missing_ok:
                return None
            raise self._error(f"docker: {what}: {_explain(exc)}") from None
        except (DockerException, requests.RequestException, ValueError) as exc:
            raise self._error(f"docker: {what}: {_explain(exc)}") from None


def _explain(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    text = explanation.decode() if isinstance(explanation, bytes) else explanation
    return str(text or exc).strip()
