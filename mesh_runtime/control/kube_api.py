"""The control plane's own small use of the official `kubernetes` client: list and watch
the objects of one kind in one namespace, as plain dicts.

    api = IstioApi.connect(Path("kubeconfig"), context=None, namespace="shop")
    items, version = api.list(VIRTUAL_SERVICE)
    for event in api.watch(VIRTUAL_SERVICE, version, timeout_s=60):
        ...   # {"type": "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR", "object": {...}}

(mesh_runtime never imports the harness, whose `harness.kube.KubeClient` does more.) The
kubeconfig is read into this client alone. Every failure is a KubeSourceError with one
line: what was asked, what the server said.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.watch.watch import iter_resp_lines

from mesh_runtime.control.istio.kinds import IstioKind
from mesh_runtime.errors import InvalidInput, MeshproofError

CONNECT_TIMEOUT_S = 5.0
LIST_TIMEOUT_S = 15.0
GONE = 410


class KubeSourceError(MeshproofError):
    """The API server could not be reached or refused a list or watch; one line."""


class ResourceVersionGone(KubeSourceError):
    """410 Gone: the watch's resourceVersion was compacted away; list again."""


class IstioApi:
    """Lists and watches custom objects of one namespace as one kubeconfig user."""

    def __init__(self, api: k8s.ApiClient, namespace: str) -> None:
        self._api = api
        self.namespace = namespace
        self.server: str = api.configuration.host
        self._open: set[Any] = set()

    @classmethod
    def connect(cls, kubeconfig: Path, context: str | None, namespace: str) -> IstioApi:
        """A client for `context` (the current one when None); a bad file is InvalidInput."""
        if not kubeconfig.is_file():
            raise InvalidInput(str(kubeconfig), "", "no such kubeconfig file")
        try:
            api = k8s_config.new_client_from_config(
                config_file=str(kubeconfig), context=context, persist_config=False
            )
        except ConfigException as exc:
            raise InvalidInput(str(kubeconfig), "", str(exc).splitlines()[0]) from None
        return cls(api, namespace)

    def close(self) -> None:
        """Ends the open watches (their threads see the stream end) and the connections."""
        for response in list(self._open):
            response.shutdown()
        self._api.close()

    def path(self, kind: IstioKind) -> str:
        return f"/apis/{kind.group}/{kind.version}/namespaces/{self.namespace}/{kind.plural}"

    def list(self, kind: IstioKind) -> tuple[list[dict[str, Any]], str]:
        """Every object of `kind` in the namespace, and the list's resourceVersion."""
        response = self._get(kind, {}, LIST_TIMEOUT_S, "list")
        try:
            body = json.loads(response.read() or b"{}")
        finally:
            response.release_conn()
        items = [dict(item, kind=kind.kind, apiVersion=kind.api_version) for item in body["items"]]
        return items, str(body["metadata"]["resourceVersion"])

    def watch(self, kind: IstioKind, version: str, timeout_s: float) -> Iterator[dict[str, Any]]:
        """The events after `version` until the server ends the watch (after `timeout_s`)."""
        query = {
            "watch": "true",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(int(timeout_s)),
        }
        response = self._get(kind, query, timeout_s + 30.0, "watch")
        self._open.add(response)
        try:
            for line in iter_resp_lines(response):
                if line.strip():
                    yield json.loads(line)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise KubeSourceError(self._line("watch", kind, f"stream broken: {exc}")) from None
        finally:
            self._open.discard(response)
            response.release_conn()

    def _get(self, kind: IstioKind, query: dict[str, str], read_timeout_s: float, verb: str) -> Any:
        try:
            method, url, headers, _, _ = self._api.param_serialize(
                "GET",
                self.path(kind),
                query_params=list(query.items()) or None,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            answer = self._api.call_api(
                method, url, headers, _request_timeout=(CONNECT_TIMEOUT_S, read_timeout_s)
            )
        except ApiException as exc:
            raise KubeSourceError(self._line(verb, kind, str(exc.reason or exc))) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise KubeSourceError(self._line(verb, kind, f"unreachable: {reason}")) from None
        response = answer.response
        if not 200 <= answer.status <= 299:
            text = response.read().decode("utf-8", errors="replace")
            response.release_conn()
            error = ResourceVersionGone if answer.status == GONE else KubeSourceError
            raise error(self._line(verb, kind, f"{answer.status} {_message(text)}"))
        return response

    def _line(self, verb: str, kind: IstioKind, detail: str) -> str:
        one = " ".join(str(detail).split())
        return f"Kubernetes API {self.server}: {verb} {kind.plural}.{kind.group} in {self.namespace}: {one}"


def _message(text: str) -> str:
    """The `message` of the Status the server sent with an error (or the text itself)."""
    try:
        status = json.loads(text)
    except ValueError:
        return text[:300]
    return str(status.get("message") or status.get("reason") or text[:300])
