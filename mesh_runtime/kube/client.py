"""A thin client over the official `kubernetes` package: objects in and out as plain dicts.

    kube = KubeClient.connect(Path("staging.kubeconfig"), context="staging")
    vs = kube.get(VIRTUAL_SERVICE, "shop", "catalog")
    kube.merge_patch(VIRTUAL_SERVICE, "shop", "catalog", {"spec": ...},
                     resource_version=vs["metadata"]["resourceVersion"])
    kube.can_i("patch", VIRTUAL_SERVICE, "shop")
    kube.exec("shop", "catalog-0-5d8f", "sidecar", ["true"])

Objects stay the JSON the server sent (no typed models), so a fault's snapshot is exactly
what was read and what rollback restores. Every error leaves as a KubeApiError subclass
(mesh_runtime.kube.errors) with one line saying what was asked and what the server answered.
The kubeconfig is read into this client alone: the package's global default configuration
is never touched, so two clients (two clusters, two users) live side by side.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from mesh_runtime.errors import InvalidInput
from mesh_runtime.kube.errors import (
    KubeNotFound,
    KubeUnreachable,
    Request,
    from_api_exception,
    unreachable,
)
from mesh_runtime.kube.podexec import ExecResult, exec_in_pod
from mesh_runtime.kube.resources import SELF_SUBJECT_ACCESS_REVIEW, Resource

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
DEFAULT_TIMEOUT_S = 10.0


class KubeClient:
    """Talks to one API server as one user (a kubeconfig context).

    By default each call may take `timeout_s` and is retried on a transport error (the
    `kubernetes` package's urllib3 retries: a server briefly away is waited for). With
    `one_attempt` (`meshproof recover`) a call is sent once, and after one found the server
    unreachable every later call fails at once saying so: a server that accepts
    connections and never answers costs one `timeout_s`, not one per call and retry.
    """

    def __init__(
        self,
        api: k8s.ApiClient,
        *,
        context: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        one_attempt: bool = False,
    ) -> None:
        self._api = api
        self.context = context
        self.server: str = api.configuration.host
        self.timeout_s = timeout_s
        self._one_attempt = one_attempt
        self._unreachable: KubeUnreachable | None = None

    @classmethod
    def connect(
        cls,
        kubeconfig: Path,
        context: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        one_attempt: bool = False,
    ) -> KubeClient:
        """A client for `context` of `kubeconfig` (its current context when None).

        A missing file, a context it does not have or credentials it cannot load are
        InvalidInput naming the file; nothing is sent to the server yet.
        """
        if not kubeconfig.is_file():
            raise InvalidInput(str(kubeconfig), "", "no such kubeconfig file")
        _refuse_unless_kubeconfig(kubeconfig)
        try:
            contexts, current = k8s_config.list_kube_config_contexts(str(kubeconfig))
            chosen = context or (current or {}).get("name")
            if chosen not in {c["name"] for c in contexts}:
                known = ", ".join(sorted(c["name"] for c in contexts)) or "none"
                raise InvalidInput(
                    str(kubeconfig), "contexts", f"no context {chosen!r} (it has: {known})"
                )
            configuration = type.__call__(k8s.Configuration)  # not the package's global one
            if one_attempt:
                configuration.retries = False
            api = k8s_config.new_client_from_config(
                config_file=str(kubeconfig),
                context=chosen,
                persist_config=False,
                client_configuration=configuration,
            )
        except ConfigException as exc:
            raise InvalidInput(str(kubeconfig), "", str(exc).splitlines()[0]) from exc
        return cls(api, context=str(chosen), timeout_s=timeout_s, one_attempt=one_attempt)

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- objects -------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        request = Request("get", str(resource), namespace, name)
        return self._json(request, "GET", resource.path(namespace, name))

    def list(
        self, resource: Resource, namespace: str | None = None, *, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        """The objects of `resource` in `namespace` (every namespace when None)."""
        request = Request("list", str(resource), namespace)
        query = {"labelSelector": label_selector} if label_selector else None
        items = self._json(request, "GET", resource.path(namespace), query=query)["items"]
        return list(items)

    def create(
        self,
        resource: Resource,
        namespace: str | None,
        body: Mapping[str, Any],
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Create the object; with `dry_run` the server validates and admits it in full
        (`dryRun=All`) and stores nothing."""
        name = (body.get("metadata") or {}).get("name")
        request = Request(
            "create (dry run)" if dry_run else "create", str(resource), namespace, name
        )
        query = {"dryRun": "All"} if dry_run else None
        return self._json(request, "POST", resource.path(namespace), body=body, query=query)

    def merge_patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        resource_version: str | None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (RFC 7386); with `resource_version`, only to that version.

        With a resourceVersion the server applies the patch only if the object is still at
        that version, and answers 409 otherwise (KubeConflict): someone else's edit is never
        overwritten. None patches whatever is there (use it only for objects meshproof owns).
        `subresource="status"` patches the object's status (what controllers write).
        """
        body = dict(patch)
        if resource_version is not None:
            metadata = dict(body.get("metadata") or {})
            metadata["resourceVersion"] = resource_version
            body["metadata"] = metadata
        path = resource.path(namespace, name) + (f"/{subresource}" if subresource else "")
        kind = f"{resource}/{subresource}" if subresource else str(resource)
        request = Request("patch", kind, namespace, name)
        return self._json(request, "PATCH", path, body=body, content_type=MERGE_PATCH)

    def replace(
        self, resource: Resource, namespace: str | None, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """PUT the whole object; its metadata.resourceVersion makes it conditional (409)."""
        name = body["metadata"]["name"]
        request = Request("update", str(resource), namespace, name)
        return self._json(request, "PUT", resource.path(namespace, name), body=body)

    def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> None:
        """Delete the object; with `uid` / `resource_version` only that object at that
        version (DeleteOptions preconditions: 409 KubeConflict otherwise)."""
        request = Request("delete", str(resource), namespace, name)
        preconditions = {
            key: value
            for key, value in (("uid", uid), ("resourceVersion", resource_version))
            if value is not None
        }
        body = (
            {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": preconditions}
            if preconditions
            else None
        )
        self._json(request, "DELETE", resource.path(namespace, name), body=body)

    # --- questions -----------------------------------------------------------------------

    def can_i(
        self,
        verb: str,
        resource: Resource,
        namespace: str | None,
        name: str | None = None,
        *,
        subresource: str | None = None,
    ) -> bool:
        """Whether this client's user may `verb` the resource (a SelfSubjectAccessReview);
        `subresource` e.g. "exec" asks about `pods/exec`."""
        attributes = {"verb": verb, "group": resource.group, "resource": resource.plural}
        if subresource is not None:
            attributes["subresource"] = subresource
        if namespace is not None:
            attributes["namespace"] = namespace
        if name is not None:
            attributes["name"] = name
        review = {
            "apiVersion": SELF_SUBJECT_ACCESS_REVIEW.api_version,
            "kind": SELF_SUBJECT_ACCESS_REVIEW.kind,
            "spec": {"resourceAttributes": attributes},
        }
        request = Request("create", str(SELF_SUBJECT_ACCESS_REVIEW), namespace)
        answer = self._json(request, "POST", SELF_SUBJECT_ACCESS_REVIEW.path(), body=review)
        return bool(answer.get("status", {}).get("allowed", False))

    def served(self, resource: Resource) -> bool:
        """Whether the server serves `resource` at its version (API discovery, which every
        authenticated user may read: no CRD read permission needed)."""
        root = f"/apis/{resource.group}/{resource.version}" if resource.group else "/api/v1"
        request = Request("discover", resource.api_version)
        try:
            listing = self._json(request, "GET", root)
        except KubeNotFound:
            return False
        return any(r.get("name") == resource.plural for r in listing.get("resources", []))

    def node_metrics(self, node: str, path: str = "metrics/resource") -> str:
        """A kubelet's endpoint `path` (its resource metrics by default, Prometheus' text
        format), through the API server's node proxy (RBAC: `get` on `nodes/proxy`)."""
        request = Request("get", "nodes/proxy", None, node)
        return self._text(request, f"/api/v1/nodes/{node}/proxy/{path}")

    def exec(self, namespace: str, pod: str, container: str, command: Sequence[str]) -> ExecResult:
        """Run `command` in a container of a pod, as `kubectl exec` (RBAC: `create` on
        `pods/exec`); its output and exit code (`podexec`)."""
        return exec_in_pod(
            self._api.configuration, namespace, pod, container, command, timeout_s=self.timeout_s
        )

    def version(self) -> str:
        """The server's gitVersion, e.g. `v1.36.3`."""
        return str(self._json(Request("get", "version"), "GET", "/version")["gitVersion"])

    # --- transport -----------------------------------------------------------------------

    def _text(self, request: Request, path: str) -> str:
        return self._call(request, "GET", path, {"Accept": "text/plain"})

    def _json(
        self,
        request: Request,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
        content_type: str = JSON,
    ) -> dict[str, Any]:
        headers = {"Accept": JSON}
        if body is not None:
            headers["Content-Type"] = content_type
        text = self._call(request, method, path, headers, body=body, query=query)
        decoded = json.loads(text) if text else {}
        return decoded if isinstance(decoded, dict) else {"value": decoded}

    def _call(
        self,
        request: Request,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> str:
        """The answer's text; a status outside 2xx raised as the matching KubeApiError."""
        if self._unreachable is not None:
            raise KubeUnreachable(
                request,
                f"not sent: an earlier call found it unreachable ({self._unreachable.detail})",
                server=self.server,
            )
        with self._translated(request):
            method, url, headers, payload, _ = self._api.param_serialize(
                method,
                path,
                query_params=list(query.items()) if query else None,
                header_params=headers,
                body=dict(body) if body is not None else None,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(
                method, url, headers, payload, _request_timeout=self.timeout_s
            )
            response.read()
            text = (response.data or b"").decode("utf-8", errors="replace")
            if not 200 <= response.status <= 299:
                raise ApiException(http_resp=response, body=text)
        return text

    @contextmanager
    def _translated(self, request: Request) -> Iterator[None]:
        try:
            yield
        except ApiException as exc:
            raise from_api_exception(exc, request, server=self.server) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            error = unreachable(exc, request, server=self.server)
            if self._one_attempt:
                error = KubeUnreachable(
                    request,
                    f"{error.detail} (one attempt of {self.timeout_s:g}s)",
                    server=self.server,
                )
                self._unreachable = error
            raise error from exc


def _refuse_unless_kubeconfig(kubeconfig: Path) -> None:
    """InvalidInput unless the file is a YAML mapping whose clusters, contexts and users are
    lists: the `kubernetes` package's loader meets anything else with a TypeError."""
    try:
        doc = yaml.safe_load(kubeconfig.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise InvalidInput(str(kubeconfig), "", f"not YAML: {problem}") from exc
    if not isinstance(doc, dict):
        raise InvalidInput(
            str(kubeconfig),
            "",
            "not a kubeconfig (expected a mapping with clusters, contexts, users)",
        )
    for field in ("clusters", "contexts", "users"):
        if not isinstance(doc.get(field) or [], list):
            raise InvalidInput(str(kubeconfig), field, "expected a list")
