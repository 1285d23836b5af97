"""Unary gRPC through a real sidecar pair (the deployment: h2mesh.py): trailers forwarded
and grpc-status counted, trailers-only answers, refused calls with a gRPC status, retries
of UNAVAILABLE (never once a response began), fault aborts and grpc-timeout."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from h2_client import Answer, H2Client

from tests.integration.security.http2.h2mesh import GRPC, H2Mesh, metric

pytestmark = pytest.mark.integration


def grpc_call(mesh: H2Mesh, path: str, *extra: tuple[str, str]) -> Answer:
    with H2Client(mesh.frontend.outbound) as client:
        return client.request(path, method="POST", headers=[*GRPC, *extra], body=b"\0\0\0\0\0")


def test_trailers_are_forwarded_and_grpc_status_counted(mesh: H2Mesh) -> None:
    """A gRPC answer's trailers reach the client; grpc_response_status comes from the
    trailers, or from the head of a trailers-only answer; messages are counted both ways."""
    answer = grpc_call(mesh, "/grpc/0")
    assert (answer.status, answer.body, answer.trailers) == (200, b"\0\0\0\0\x02hi", {"grpc-status": "0"})  # fmt: skip
    only = grpc_call(mesh, "/grpc-only/5")
    assert (only.status, only.headers["grpc-status"], only.body) == (200, "5", b"")
    for car, reporter in ((mesh.frontend, "source"), (mesh.catalog, "destination")):
        for code in ("0", "5"):
            labels = {"reporter": reporter, "request_protocol": "grpc"}
            assert metric(car, "istio_requests_total", grpc_response_status=code, **labels) >= 1
        ok = {"reporter": reporter, "grpc_response_status": "0"}
        assert metric(car, "istio_request_messages_total", **ok) >= 1
        assert metric(car, "istio_response_messages_total", **ok) >= 1


def test_a_trailers_only_answer_reaches_a_grpcio_client_as_its_status(mesh: H2Mesh) -> None:
    """The app's trailers-only NOT_FOUND crosses both sidecars as one HEADERS frame ending
    the stream: a grpcio client gets NOT_FOUND with the app's message (an empty DATA frame
    ending the stream after the head made it UNKNOWN "Stream removed")."""
    options = [("grpc.default_authority", "catalog"), ("grpc.enable_http_proxy", 0)]
    target = f"127.0.0.1:{mesh.frontend.outbound}"
    with grpc.insecure_channel(target, options=options) as ch, pytest.raises(grpc.RpcError) as failed:  # fmt: skip
        ch.unary_unary("/grpc-only/5")(b"", timeout=10)
    assert (failed.value.code(), failed.value.details()) == (grpc.StatusCode.NOT_FOUND, "from the app")  # type: ignore[attr-defined]  # fmt: skip


def test_a_grpc_call_the_listener_refuses_gets_a_grpc_status(mesh: H2Mesh) -> None:
    """A gRPC call with more header fields than the limit is refused trailers-only (a gRPC
    status, no body), not with a plain-text 431 a gRPC client cannot read."""
    many = [(f"x-h{i}", "v") for i in range(101)]
    answer = grpc_call(mesh, "/grpc/0", *many)
    assert (answer.status, answer.body, answer.trailers) == (200, b"", {})
    assert answer.headers["grpc-status"] != "0"
    assert "header fields" in answer.headers["grpc-message"]


def test_unavailable_trailers_only_is_retried(mesh: H2Mesh) -> None:
    """retryOn unavailable: a trailers-only UNAVAILABLE is tried 3 times (attempts 2), and
    the last answer is passed on, flagged URX."""
    before = mesh.app_count()["requests"]
    retries = metric(mesh.frontend, "meshproof_retries_total", destination_service="catalog")
    answer = grpc_call(mesh, "/grpc-only/14", ("x-case", "retry"))
    assert answer.headers["grpc-status"] == "14"
    assert mesh.app_count()["requests"] - before == 3
    after = metric(mesh.frontend, "meshproof_retries_total", destination_service="catalog")
    assert after - retries == 2
    assert metric(mesh.frontend, "istio_requests_total", response_flags="URX", grpc_response_status="14") >= 1  # fmt: skip


def test_a_stream_whose_response_began_is_never_retried(mesh: H2Mesh) -> None:
    """UNAVAILABLE in trailers after a message is passed on as it is: one try only."""
    before = mesh.app_count()["requests"]
    answer = grpc_call(mesh, "/grpc/14", ("x-case", "retry"))
    assert answer.trailers == {"grpc-status": "14"} and answer.body
    assert mesh.app_count()["requests"] - before == 1


def test_fault_abort_with_grpc_status(mesh: H2Mesh) -> None:
    """abort: {grpcStatus: 8} answers trailers-only RESOURCE_EXHAUSTED; the app sees nothing."""
    before = mesh.app_count()["requests"]
    answer = grpc_call(mesh, "/grpc/0", ("x-case", "fault"))
    assert (answer.status, answer.headers["grpc-status"], answer.body) == (200, "8", b"")
    assert mesh.app_count()["requests"] == before


def test_grpc_timeout_bounds_the_try(mesh: H2Mesh) -> None:
    """grpc-timeout 300m cuts a 3 s call at ~0.3 s with DEADLINE_EXCEEDED; the app is told
    the deadline in grpc-timeout."""
    start = time.monotonic()
    answer = grpc_call(mesh, "/delay/3000", ("grpc-timeout", "300m"))
    elapsed = time.monotonic() - start
    assert answer.headers.get("grpc-status") == "4", answer
    assert 0.25 <= elapsed < 2.0
    seen = json.loads(grpc_call(mesh, "/seen", ("grpc-timeout", "2S")).body)
    assert seen["headers"]["grpc-timeout"] == "2000m"  # the deadline, passed on
