"""Translating the API server's error answers into meshproof's exception tree, one line each.

The bodies are `Status` objects in the shape kube-apiserver v1.36 sends (the integration
tests in tests/integration/kube get the same answers from a real server).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from harness.cli.main import exit_code_of_error
from mesh_runtime.errors import MeshproofError
from mesh_runtime.kube.errors import (
    KubeApiError,
    KubeConflict,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
    KubeUnauthorized,
    KubeUnreachable,
    Request,
    from_api_exception,
    invalid_fields,
    one_line,
    parse_status,
    unreachable,
)

SERVER = "https://127.0.0.1:6443"
PATCH = Request("patch", "virtualservices.networking.istio.io", "shop", "catalog")


@dataclass
class Answer:
    """What `kubernetes.client.ApiException` carries: status, reason, body."""

    status: int
    reason: str
    body: str


def status_body(
    code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None
) -> str:
    details = {"name": "catalog", "kind": "virtualservices", "causes": causes or []}
    return json.dumps(
        {"kind": "Status", "status": "Failure", "message": message, "reason": reason,
         "details": details, "code": code}
    )  # fmt: skip


def test_stale_resource_version_is_a_conflict_saying_nothing_was_written() -> None:
    """409 on a patch: KubeConflict, one line naming the request and that nothing changed."""
    message = (
        'Operation cannot be fulfilled on virtualservices.networking.istio.io "catalog": the '
        "object has been modified; please apply your changes to the latest version and try again"
    )
    error = from_api_exception(
        Answer(409, "Conflict", status_body(409, "Conflict", message)), PATCH, server=SERVER
    )
    assert isinstance(error, KubeConflict)
    text = str(error)
    assert "\n" not in text
    assert text.startswith(f"Kubernetes API {SERVER}: 409 Conflict (patch ")
    assert "shop/catalog" in text
    assert "nothing was written" in text


def test_schema_violation_names_every_field() -> None:
    """422: KubeInvalid with the fields of details.causes and the server's message in one line."""
    causes = [
        {"reason": "FieldValueTypeInvalid", "message": "Invalid value", "field": "spec.http[0].timeout"},
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.hosts"},
        {"reason": "FieldValueRequired", "message": "again", "field": "spec.hosts"},
    ]  # fmt: skip
    message = 'VirtualService.networking.istio.io "catalog" is invalid: [spec.http[0].timeout:\n Invalid value]'
    error = from_api_exception(
        Answer(422, "Unprocessable Entity", status_body(422, "Invalid", message, causes)), PATCH
    )
    assert isinstance(error, KubeInvalid)
    assert error.fields == ("spec.http[0].timeout", "spec.hosts")
    assert "\n" not in str(error)
    assert "spec.http[0].timeout: Invalid value" in str(error)


@pytest.mark.parametrize(
    ("code", "cls", "label"),
    [
        (401, KubeUnauthorized, "401 Unauthorized"),
        (403, KubeForbidden, "403 Forbidden"),
        (404, KubeNotFound, "404 Not Found"),
    ],
)
def test_each_status_has_its_class(code: int, cls: type[KubeApiError], label: str) -> None:
    """401/403/404 become their own MeshproofError subclass (exit code 2) with the status in the line."""
    error = from_api_exception(
        Answer(code, "x", status_body(code, "x", "the server said so")), PATCH
    )
    assert type(error) is cls
    assert isinstance(error, MeshproofError)
    assert exit_code_of_error(error) == 2
    assert label in str(error)
    assert "the server said so" in str(error)


def test_invalid_message_leaves_out_causes_without_a_field() -> None:
    """The server's extra 'some validation rules were not checked' (no field) is left out."""
    causes = [
        {"reason": "FieldValueTypeInvalid", "field": "spec.http[0].timeout",
         "message": 'Invalid value: "integer": must be of type string'},
        {"reason": "FieldValueInvalid", "message": "some validation rules were not checked", "field": "<nil>"},
    ]  # fmt: skip
    body = status_body(422, "Invalid", "long server text", causes)
    text = str(from_api_exception(Answer(422, "Unprocessable Entity", body), PATCH))
    assert text.endswith(
        '"catalog" is invalid: spec.http[0].timeout: Invalid value: "integer": must be of type string'
    )
    assert "not checked" not in text


def test_unknown_resource_is_a_missing_crd() -> None:
    """A 404 naming no object means the resource is not served: said so, with the CRD hint."""
    error = from_api_exception(Answer(404, "Not Found", "404 page not found"), PATCH)
    assert isinstance(error, KubeNotFound)
    assert "does not serve virtualservices.networking.istio.io (is its CRD installed?)" in str(
        error
    )


def test_unknown_status_keeps_code_and_reason() -> None:
    """A 500 is a plain KubeApiError naming the HTTP status and the server's reason."""
    error = from_api_exception(Answer(500, "Internal Server Error", "not json"), PATCH)
    assert type(error) is KubeApiError
    assert "HTTP 500 Internal Server Error" in str(error)


def test_transport_error_is_unreachable() -> None:
    """A refused connection is KubeUnreachable naming the server, in one line."""
    error = unreachable(ConnectionRefusedError(111, "Connection refused"), PATCH, server=SERVER)
    assert isinstance(error, KubeUnreachable)
    assert str(error).startswith(f"Kubernetes API {SERVER}: unreachable (patch ")
    assert "Connection refused" in str(error)


def test_helpers_tolerate_odd_bodies() -> None:
    """A body that is no Status gives {}, no fields; long text is cut and flattened."""
    assert parse_status(None) == {}
    assert parse_status("[1, 2]") == {}
    assert invalid_fields({"details": None}) == ()
    flat = one_line("a\n  b\tc" + "x" * 1000, limit=20)
    assert flat.startswith("a b c") and len(flat) == 20
