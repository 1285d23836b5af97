"""The gRPC sample service's pure parts: where a call goes, what a failure answers."""

from __future__ import annotations

import pytest

from mesh_runtime.grpc_codes import code_name
from mesh_runtime.services.__main__ import build_parser, build_service
from mesh_runtime.services.call_result import CallResult
from mesh_runtime.services.calls import Targets
from mesh_runtime.services.demux import H2_PREFACE, opens_h2
from mesh_runtime.services.rpc_call import call_message, metadata_of
from mesh_runtime.services.rpc_server import failure_code
from mesh_runtime.services.rpc_streams import StreamFailure, StreamPlan, kind_of, stream_plan


def test_grpc_callees_go_to_the_sidecar_with_their_name_as_authority() -> None:
    """Mesh mode: the outbound listener, :authority = the callee; no mesh: an instance."""
    mesh = Targets("127.0.0.1:9000", {}, grpc=["catalog"])
    assert mesh.grpc_route("catalog") == ("127.0.0.1:9000", "catalog")
    assert mesh.grpc_route("cart") is None
    direct = Targets(None, {"catalog": ["127.0.0.1:1", "127.0.0.1:2"]}, grpc=["catalog"])
    assert [direct.grpc_route("catalog") for _ in range(2)] == [
        ("127.0.0.1:1", None),
        ("127.0.0.1:2", None),
    ]


def test_a_failed_downstream_call_becomes_a_grpc_status() -> None:
    """A passed deadline is DEADLINE_EXCEEDED, a gRPC callee's code passes through, an
    HTTP 5xx or no answer is UNAVAILABLE."""
    grpc_failure = CallResult("inventory", 500, 1.0, grpc_status=13)
    assert failure_code(grpc_failure, deadline_passed=True) == 4
    assert failure_code(grpc_failure, deadline_passed=False) == 13
    assert failure_code(CallResult("cart", 503, 1.0), deadline_passed=False) == 14
    assert failure_code(CallResult("kv", 0, 1.0, error="timeout"), deadline_passed=False) == 14


def test_a_grpc_call_is_ok_only_with_status_ok() -> None:
    """CallResult of a gRPC call: OK is 200; UNAVAILABLE is 503 and not ok, in the tree."""
    assert CallResult("catalog", 200, 1.0, grpc_status=0).ok
    failed = CallResult("catalog", 503, 1.0, grpc_status=14, error="UNAVAILABLE: injected")
    assert not failed.ok and failed.as_json()["grpc_status"] == 14
    assert code_name(14) == "UNAVAILABLE" and code_name(99) == "CODE_99"


def test_only_the_h2_preface_goes_to_the_grpc_server() -> None:
    """The demux sends the HTTP/2 preface to grpcio, HTTP/1.1 to the behaviour API."""
    assert opens_h2(H2_PREFACE) and opens_h2(b"PRI")
    assert not opens_h2(b"GET /_health HTTP/1.1\r\n") and not opens_h2(b"PUT")


def test_messages_and_metadata_of_a_call() -> None:
    """The call's message is compact JSON; metadata names are lower case."""
    assert call_message("GET", "/x") == b'{"method":"GET","path":"/x"}'
    assert metadata_of({"TraceParent": "00-a-b-01"}) == (("traceparent", "00-a-b-01"),)


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--calls", "a", "--grpc", "b", "--via", "127.0.0.1:1"], "--grpc names b not in --calls"),
        (["--protocol", "udp"], None),
    ],
)
def test_bad_grpc_arguments_are_refused(argv: list[str], problem: str | None) -> None:
    """A gRPC callee that is not called, or an unknown protocol, is refused."""
    base = ["--service", "s", "--instance", "s-0", "--port", "1"]
    if problem is None:
        with pytest.raises(SystemExit):
            build_parser().parse_args(base + argv)
        return
    with pytest.raises(ValueError, match=problem):
        build_service(build_parser().parse_args(base + argv))


def test_streaming_methods_are_chosen_by_name() -> None:
    """`...Stream` is server streaming, `...Echo` bidirectional, anything else unary."""
    assert [kind_of(m) for m in ("/a.B/ItemStream", "/a.B/TalkEcho", "/a.B/List")] == [
        "server",
        "bidi",
        "unary",
    ]


def test_a_stream_request_is_read_or_refused_with_invalid_argument() -> None:
    """Defaults for an empty message; fields as asked; bad JSON or ranges: INVALID_ARGUMENT."""
    assert stream_plan(b"") == StreamPlan(3, 0.0, None)
    assert stream_plan(b'{"count": 5, "interval_ms": 10, "fail_after": 2}') == StreamPlan(
        5, 10.0, 2
    )
    for bad in (b"[1]", b"{", b'{"count": -1}', b'{"count": "x"}'):
        with pytest.raises(StreamFailure) as refused:
            stream_plan(bad)
        assert refused.value.code == 3
