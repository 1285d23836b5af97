"""Kubernetes API errors, translated where they enter: the Kubernetes branch of
meshproof's exception tree (drawn in harness.errors), rooted in its one base.

    MeshproofError
    └── KubeApiError            the Kubernetes API refused a request or could not be reached
        ├── KubeUnreachable     no answer: connection refused, TLS failure, timeout
        ├── KubeUnauthorized    401: the credentials were not accepted
        ├── KubeForbidden       403: RBAC denied the verb on the resource
        ├── KubeNotFound        404: no such object (or no such resource: a CRD missing)
        ├── KubeConflict        409: changed since it was read (stale resourceVersion), or exists
        └── KubeInvalid         422: the object does not validate; `fields` names each field

Every message is one line a user can act on: the HTTP status, what was asked (verb, kind,
namespace/name) and what the server said (its Status message, whitespace collapsed). The
CLI ends with exit code 2 (harness.cli.main.exit_code_of_error): nothing the user asked
for could be done.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mesh_runtime.errors import MeshproofError

_MAX_MESSAGE = 600


@dataclass(frozen=True)
class Request:
    """What was asked of the API server, for the message: `patch virtualservices shop/catalog`."""

    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        target = "/".join(part for part in (self.namespace, self.name) if part)
        return f"{self.verb} {self.resource}" + (f" {target}" if target else "")


class KubeApiError(MeshproofError):
    """The Kubernetes API refused a request or could not be reached; `str()` is one line."""

    status: int | None = None
    label = "error"

    def __init__(self, request: Request | None, detail: str, *, server: str = "") -> None:
        self.request = request
        self.detail = detail
        self.server = server
        where = f"Kubernetes API {server}".rstrip()
        asked = f" ({request})" if request else ""
        code = f"{self.status} " if self.status else ""
        super().__init__(f"{where}: {code}{self.label}{asked}: {detail}")


class KubeUnreachable(KubeApiError):
    label = "unreachable"


class KubeUnauthorized(KubeApiError):
    status = 401
    label = "Unauthorized"


class KubeForbidden(KubeApiError):
    status = 403
    label = "Forbidden"


class KubeNotFound(KubeApiError):
    status = 404
    label = "Not Found"


class KubeConflict(KubeApiError):
    status = 409
    label = "Conflict"


class KubeInvalid(KubeApiError):
    status = 422
    label = "Invalid"

    def __init__(
        self,
        request: Request | None,
        detail: str,
        *,
        server: str = "",
        fields: tuple[str, ...] = (),
    ) -> None:
        self.fields = fields
        super().__init__(request, detail, server=server)


_BY_STATUS: dict[int, type[KubeApiError]] = {
    401: KubeUnauthorized,
    403: KubeForbidden,
    404: KubeNotFound,
    409: KubeConflict,
    422: KubeInvalid,
}


def one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    """`text` with every run of whitespace (newlines too) made one space, cut at `limit`."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_status(body: str | bytes | None) -> dict[str, Any]:
    """The `Status` object the API server sends with an error ({} if the body is not one)."""
    if not body:
        return {}
    try:
        status = json.loads(body)
    except (ValueError, TypeError):
        return {}
    return status if isinstance(status, dict) else {}


def invalid_fields(status: dict[str, Any]) -> tuple[str, ...]:
    """The field paths a 422 Status names in details.causes, in order, without repeats."""
    return tuple(dict.fromkeys(str(c["field"]) for c in _field_causes(status)))


def _field_causes(status: dict[str, Any]) -> list[dict[str, Any]]:
    # The server writes a cause about no field in particular with field "" or "<nil>".
    causes = (status.get("details") or {}).get("causes") or []
    return [c for c in causes if isinstance(c, dict) and c.get("field") and c["field"] != "<nil>"]


def invalid_message(status: dict[str, Any]) -> str | None:
    """A 422's `<Kind> "<name>" is invalid: <field>: <problem>; ...`, from the causes that
    name a field (the server adds a field-less "some validation rules were not checked"),
    or None when no cause names one."""
    details = status.get("details") or {}
    causes = _field_causes(status)
    if not causes:
        return None
    problems = "; ".join(f"{c['field']}: {c.get('message', '')}".rstrip(": ") for c in causes)
    return f'{details.get("kind", "object")} "{details.get("name", "")}" is invalid: {problems}'


def _detail(status_code: int, reason: str, status: dict[str, Any], request: Request | None) -> str:
    message = one_line(str(status.get("message") or reason or "no message"))
    if status_code == 409 and request is not None and request.verb in ("patch", "update", "delete"):
        # The server says "the object has been modified; please apply your changes to the
        # latest version": for meshproof that means someone else edited it; nothing was written.
        return f"{message} (someone changed it since it was read; nothing was written)"
    if status_code == 422:
        return one_line(invalid_message(status) or message)
    if status_code == 404 and request is not None and not (status.get("details") or {}):
        # No object named: the path itself is unknown, so the resource is not served.
        return f"the server does not serve {request.resource} (is its CRD installed?)"
    if status_code == 401:
        return f"{message} (the kubeconfig's credentials were not accepted)"
    return message


def from_api_exception(
    exc: Any, request: Request | None = None, *, server: str = ""
) -> KubeApiError:
    """The KubeApiError for a `kubernetes.client.ApiException` (status, reason, body)."""
    code = int(getattr(exc, "status", 0) or 0)
    status = parse_status(getattr(exc, "body", None))
    reason = str(getattr(exc, "reason", "") or "")
    detail = _detail(code, reason, status, request)
    cls = _BY_STATUS.get(code)
    if cls is KubeInvalid:
        return KubeInvalid(request, detail, server=server, fields=invalid_fields(status))
    if cls is not None:
        return cls(request, detail, server=server)
    return KubeApiError(request, f"HTTP {code or '?'} {reason}: {detail}", server=server)


def unreachable(
    exc: BaseException, request: Request | None = None, *, server: str = ""
) -> KubeUnreachable:
    """The KubeUnreachable for a transport error (urllib3's MaxRetryError, an OSError, ...)."""
    reason = getattr(exc, "reason", None) or exc
    return KubeUnreachable(request, one_line(str(reason), 300), server=server)
