"""The API server as a pod's ServiceAccount sees it: get and replace of one ConfigMap.

The control plane's state ConfigMap (`state_configmap`) is all the control plane asks of
the API server, so in its pod it talks to it with `requests` (already in the mesh image)
the way every in-cluster client does (what `kubernetes.config.load_incluster_config`
reads): the server at `KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT`, the mounted
token (re-read on every request: the kubelet rotates it) and CA. Not the `kubernetes`
package nor `mesh_runtime.kube`: they are the host side's (126 MB installed), left out of
the mesh image.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from mesh_runtime.errors import InvalidInput, MeshproofError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_TIMEOUT_S = 10.0


class ApiServerError(MeshproofError):
    """The API server refused a request or could not be reached; one line."""


class ApiConflict(ApiServerError):
    """409: the object changed since its resourceVersion was read."""


def server_url(environ: Mapping[str, str]) -> str:
    """`https://HOST:PORT` of the API server from a pod's environment (IPv6 bracketed)."""
    host = environ.get("KUBERNETES_SERVICE_HOST")
    port = environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise InvalidInput(
            "KUBERNETES_SERVICE_HOST", "", "not set: not in a pod (or no API server Service)"
        )
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


class ConfigMapApi:
    """get / replace of ConfigMaps as the pod's ServiceAccount."""

    def __init__(
        self, server: str, account_dir: Path = SERVICE_ACCOUNT, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.server = server
        self._token = account_dir / "token"
        self._session = requests.Session()
        self._ca = str(account_dir / "ca.crt")
        self._timeout_s = timeout_s

    @classmethod
    def in_pod(cls, account_dir: Path = SERVICE_ACCOUNT) -> ConfigMapApi:
        """The client of the pod this runs in; InvalidInput outside one (no token)."""
        if not (account_dir / "token").is_file():
            raise InvalidInput(str(account_dir / "token"), "", "no service-account token mounted")
        return cls(server_url(os.environ), account_dir)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call("GET", namespace, name, None)

    def replace(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT the whole object; its metadata.resourceVersion makes it conditional."""
        return self._call("PUT", namespace, body["metadata"]["name"], body)

    def _call(
        self, method: str, namespace: str, name: str, body: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        url = f"{self.server}/api/v1/namespaces/{namespace}/configmaps/{name}"
        asked = f"{method} configmap {namespace}/{name}"
        try:
            token = self._token.read_text(encoding="utf-8").strip()
            answer = self._session.request(
                method,
                url,
                json=body,
                verify=self._ca,  # per request: a session's verify loses to REQUESTS_CA_BUNDLE
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=self._timeout_s,
            )
        except (OSError, requests.RequestException) as exc:
            raise ApiServerError(f"{self.server}: {asked}: {exc}") from exc
        if answer.status_code == 409:
            raise ApiConflict(f"{self.server}: {asked}: 409 {_message(answer)}")
        if not answer.ok:
            raise ApiServerError(f"{self.server}: {asked}: {answer.status_code} {_message(answer)}")
        decoded = answer.json()
        return decoded if isinstance(decoded, dict) else {}


def _message(answer: requests.Response) -> str:
    """The Status object's message, else the start of the body."""
    try:
        message = json.loads(answer.text).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or answer.text[:200]).replace("\n", " ")
