"""gRPC rules of the proxy: statuses in heads and trailers, grpc-timeout, retryOn names,
trailers-only answers, fault aborts with a gRPC status, per-try timeouts under a deadline."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from mesh_runtime.config import Fault, Retries
from mesh_runtime.grpc_codes import http_status_of
from mesh_runtime.sidecar.grpc import (
    MessageCounter,
    as_grpc,
    call_budget,
    final_status,
    grpc_timeout,
    head_status,
    is_grpc,
    messages_in,
    trailers_only,
    with_grpc_timeout,
)
from mesh_runtime.sidecar.http1 import BodyStream, Response, simple_response
from mesh_runtime.sidecar.observe import rpc_attributes
from mesh_runtime.sidecar.policy import AttemptResult, decide_fault, is_retriable, per_try_timeout


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(b"250m", 0.25), (b"2S", 2.0), (b"1M", 60.0), (b"1H", 3600.0), (b"500u", 0.0005),
     (b"100n", 1e-7), (b"123456789S", None), (b"1.5S", None), (b"10", None), (b"", None)],
)  # fmt: skip
def test_grpc_timeout_header_is_read_in_seconds(value: bytes, seconds: float | None) -> None:
    """grpc-timeout is up to 8 digits and a unit (H M S m u n); anything else is ignored."""
    found = grpc_timeout([(b"grpc-timeout", value)])
    assert found == (pytest.approx(seconds) if seconds is not None else None)


def test_grpc_is_known_by_its_content_type() -> None:
    """application/grpc and its +proto / +json variants are gRPC; JSON is not."""
    assert is_grpc([(b"content-type", b"application/grpc+proto")])
    assert not is_grpc([(b"content-type", b"application/json")])
    assert not is_grpc([])


def test_status_from_trailers_wins_over_head() -> None:
    """A finished stream's status is its trailers'; a trailers-only answer's is its head's."""
    body = BodyStream()
    body.trailers = [(b"grpc-status", b"14")]
    body.finish()
    streamed = Response(200, [(b"content-type", b"application/grpc")], body)
    assert head_status(streamed) is None
    assert final_status(streamed) == 14
    assert final_status(trailers_only(4, "late")) == 4


def test_sidecar_errors_to_a_grpc_call_are_trailers_only() -> None:
    """A local 503 overflow becomes :status 200 with grpc-status UNAVAILABLE, flags kept,
    the message percent-encoded."""
    answer = as_grpc(simple_response(503, "upstream overflow 100%", "UO"))
    assert answer.status == 200 and answer.body == b"" and answer.flags == "UO"
    assert head_status(answer) == 14
    assert answer.header(b"grpc-message") == b"upstream overflow 100%25"
    assert head_status(as_grpc(simple_response(504, "upstream request timeout", "UT"))) == 4


def test_grpc_statuses_map_to_http_for_outlier_detection() -> None:
    """UNAVAILABLE counts as 503, DEADLINE_EXCEEDED as 504, OK as 200 (Envoy's mapping)."""
    assert (http_status_of(14), http_status_of(4), http_status_of(0)) == (503, 504, 200)


@pytest.mark.parametrize(
    ("retry_on", "grpc_status", "retried"),
    [("unavailable", 14, True), ("unavailable", 13, False), ("internal,cancelled", 1, True),
     ("deadline-exceeded", 4, True), ("resource-exhausted", 8, True), ("5xx", 14, False),
     ("unavailable", 0, False)],
)  # fmt: skip
def test_retry_on_grpc_names(retry_on: str, grpc_status: int, retried: bool) -> None:
    """A trailers-only answer is retried when its grpc-status is named in retryOn (its
    HTTP status 200 alone never is)."""
    retries = Retries(retryOn=retry_on)
    assert is_retriable(retries, AttemptResult(200, None, grpc_status)) is retried


def test_unknown_retry_on_name_is_refused() -> None:
    """retryOn still refuses names it does not know."""
    with pytest.raises(ValidationError):
        Retries(retryOn="unavailable,data-loss")


def test_fault_abort_with_grpc_status() -> None:
    """abort: {grpcStatus} decides a gRPC abort; exactly one of httpStatus / grpcStatus."""
    fault = Fault.model_validate({"abort": {"grpcStatus": 14, "percentage": 100}})
    decision = decide_fault(fault, {}, random.Random(1))
    assert (decision.abort_grpc, decision.abort_status, decision.aborted) == (14, None, True)
    with pytest.raises(ValidationError):
        Fault.model_validate({"abort": {"grpcStatus": 14, "httpStatus": 503}})
    with pytest.raises(ValidationError):
        Fault.model_validate({"abort": {"percentage": 10}})


def test_grpc_timeout_bounds_the_per_try_timeout() -> None:
    """The per-try timeout is the smaller of perTryTimeout and the call's grpc-timeout."""
    assert per_try_timeout(2.0, 0.5) == 0.5
    assert per_try_timeout(0.2, 0.5) == 0.2
    assert per_try_timeout(None, 0.5) == 0.5
    assert per_try_timeout(1.0, None) == 1.0


def test_rpc_span_attributes_name_service_and_method() -> None:
    """A gRPC call's spans carry rpc.system, rpc.service and rpc.method from its path."""
    assert rpc_attributes("/shop.Catalog/GetItem") == {
        "rpc.system": "grpc",
        "rpc.service": "shop.Catalog",
        "rpc.method": "GetItem",
    }


def test_messages_are_counted_across_any_chunking() -> None:
    """Length-prefixed messages are counted however the body is cut into chunks."""
    body = b"\0\0\0\0\x02hi" + b"\0\0\0\0\x00" + b"\0\0\0\x01\x00" + b"x" * 256
    for size in (1, 3, 5, 7, 64, len(body)):
        counter = MessageCounter()
        for start in range(0, len(body), size):
            counter.feed(body[start : start + size])
        assert counter.count == 3
    assert messages_in(b"") == 0


def test_the_next_hop_is_told_the_deadline_left() -> None:
    """grpc-timeout upstream is what the try has left: its per-try timeout, cut by the
    route's deadline, in milliseconds; an earlier value is replaced."""
    assert call_budget(2.0, 100.5, 100.0) == 0.5
    assert call_budget(0.2, 100.5, 100.0) == 0.2
    assert call_budget(None, None, 100.0) is None
    assert call_budget(None, 99.0, 100.0) == 0.0
    headers = with_grpc_timeout([(b"grpc-timeout", b"9S"), (b"x", b"y")], 0.25)
    assert headers == [(b"x", b"y"), (b"grpc-timeout", b"250m")]
    assert with_grpc_timeout([], 0.0) == [(b"grpc-timeout", b"1m")]
