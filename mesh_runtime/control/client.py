"""A small synchronous client of the control plane API, for the harness and the runtimes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.config.policy import ServicePolicy
from mesh_runtime.errors import ControlPlaneError


class ControlPlaneClient:
    """Talks to `python -m mesh_runtime.control` at `base_url`; every error is a
    ControlPlaneError whose message says what was attempted and what came back."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._session = session or requests.Session()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ControlPlaneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ready(self) -> bool:
        """True when the control plane answers /ready with 200; False when it is not up."""
        try:
            response = self._session.get(f"{self._base}/ready", timeout=self._timeout)
        except requests.RequestException:
            return False
        return response.status_code == 200

    def config(self) -> MeshConfig:
        data = self._call("GET", "/v1/config", "read the mesh config")
        return MeshConfig.model_validate(data)

    def status(self) -> dict[str, Any]:
        """`{"version": V, "sidecars": {instance: {"version": V, "seen": ts}}}`."""
        result: dict[str, Any] = self._call("GET", "/v1/config/status", "read the config status")
        return result

    def put_policy(self, service: str, policy: ServicePolicy | Mapping[str, Any]) -> int:
        """Replace `service`'s policy; returns the new config version."""
        body = policy.model_dump(mode="json") if isinstance(policy, ServicePolicy) else policy
        path = f"/v1/services/{service}/policy"
        return int(self._call("PUT", path, f"set the policy of {service}", body)["version"])

    def patch_policy(self, service: str, patch: Mapping[str, Any]) -> int:
        """Change `service`'s policy by a JSON merge patch; returns the new config version."""
        path = f"/v1/services/{service}/policy"
        return int(self._call("PATCH", path, f"patch the policy of {service}", patch)["version"])

    def put_config(self, config: MeshConfig | Mapping[str, Any]) -> int:
        """Replace the whole configuration; returns the new config version."""
        body = config.model_dump(mode="json") if isinstance(config, MeshConfig) else config
        return int(self._call("PUT", "/v1/config", "replace the mesh config", body)["version"])

    def wait_for_version(
        self,
        version: int,
        instances: Iterable[str],
        timeout: float,
        *,
        interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """Poll the status until every named sidecar reports `version` or later.

        Returns the last status; raises ControlPlaneError naming the sidecars that lag.
        """
        wanted = sorted(set(instances))
        deadline = clock() + timeout
        while True:
            status = self.status()
            lagging = _lagging(status, version, wanted)
            if not lagging:
                return status
            if clock() >= deadline:
                raise ControlPlaneError(
                    f"sidecars did not reach config version {version} within {timeout:g}s: "
                    + ", ".join(lagging)
                )
            time.sleep(interval)

    def _call(self, method: str, path: str, what: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        url = f"{self._base}{path}"
        try:
            response = self._session.request(
                method, url, json=body, headers=headers, timeout=self._timeout
            )
        except requests.Timeout:
            raise ControlPlaneError(
                f"could not {what}: control plane at {self._base} did not answer "
                f"within {self._timeout:g}s"
            ) from None
        except requests.RequestException as exc:
            raise ControlPlaneError(
                f"could not {what}: control plane at {self._base} is unreachable "
                f"({type(exc).__name__}); is it running?"
            ) from None
        if response.status_code != 200:
            raise ControlPlaneError(f"could not {what}: {_refusal(response)}")
        try:
            return response.json()
        except ValueError:
            raise ControlPlaneError(f"could not {what}: the answer was not JSON") from None


def _refusal(response: requests.Response) -> str:
    if response.status_code == 401:
        return "401 unauthorised (wrong or missing control plane token)"
    try:
        message = response.json().get("error", "")
    except (ValueError, AttributeError):
        message = response.text[:200]
    return f"{response.status_code} {message}".strip()


def _lagging(status: Mapping[str, Any], version: int, wanted: list[str]) -> list[str]:
    sidecars = status.get("sidecars", {})
    out = []
    for name in wanted:
        report = sidecars.get(name)
        if report is None:
            out.append(f"{name} (never reported)")
        elif int(report.get("version", 0)) < version:
            out.append(f"{name} (at {report.get('version')})")
    return out
