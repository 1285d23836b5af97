"""Streaming RPCs through a real sidecar pair (grpcio client -> frontend -> mTLS -> shop;
the deployment: h2mesh.py): server, bidirectional and large streams, the idle timeout, a
stream failing after it began, outlier ejection of a replica answering UNAVAILABLE, and an
upstream killed mid-stream (the last test to use shopb-0)."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
import requests
from h2_client import Answer, H2Client
from sidecar_procs import wait_until

from tests.integration.security.http2.h2mesh import GRPC, SHOP_IDLE_S, H2Mesh, metric

pytestmark = pytest.mark.integration


@contextmanager
def shop_channel(mesh: H2Mesh, service: str = "shop") -> Iterator[grpc.Channel]:
    options = [("grpc.default_authority", service), ("grpc.enable_http_proxy", 0)]
    with grpc.insecure_channel(f"127.0.0.1:{mesh.frontend.outbound}", options=options) as ch:
        yield ch


def shop_metric(mesh: H2Mesh, name: str, **labels: str) -> float:
    return metric(mesh.shop, name, reporter="destination", **labels)


def test_a_server_stream_arrives_in_order_as_it_is_sent(mesh: H2Mesh) -> None:
    """Four messages 250 ms apart reach a grpcio client in order, the first one long
    before the server ends the stream; messages are counted each way."""
    sent = shop_metric(mesh, "istio_response_messages_total", grpc_response_status="0")
    ask = json.dumps({"count": 4, "interval_ms": 250}).encode()
    with shop_channel(mesh) as ch:
        start = time.monotonic()
        arrivals = [(time.monotonic() - start, json.loads(m)) for m in ch.unary_stream("/meshproof.shop.Shop/ItemStream")(ask, timeout=10)]  # fmt: skip
    assert [m["seq"] for _, m in arrivals] == [0, 1, 2, 3]
    assert {m["instance"] for _, m in arrivals} == {"shop-0"}
    assert arrivals[-1][0] - arrivals[0][0] >= 0.6, arrivals  # not held until the end
    after = shop_metric(mesh, "istio_response_messages_total", grpc_response_status="0")
    assert after - sent == 4
    labels = {"grpc_response_status": "0", "reporter": "source", "destination_service": "shop"}
    assert metric(mesh.frontend, "istio_request_messages_total", **labels) >= 1


def test_a_bidi_stream_is_forwarded_message_by_message(mesh: H2Mesh) -> None:
    """A bidirectional call whose client sends each message only after the answer to the
    one before: every request message crosses both sidecars while the call is open (a
    buffered request body would hold the first one until the deadline), counted each way."""
    counts = ("istio_request_messages_total", "istio_response_messages_total")
    before = [shop_metric(mesh, name, grpc_response_status="0") for name in counts]
    outbox: queue.Queue[bytes | None] = queue.Queue()
    with shop_channel(mesh) as ch:
        answers = ch.stream_stream("/meshproof.shop.Shop/TalkEcho")(iter(outbox.get, None), timeout=10)  # fmt: skip
        echoes = []
        for word in ("one", "two", "three"):
            outbox.put(word.encode())
            echoes.append(json.loads(next(answers)))
        outbox.put(None)
        assert list(answers) == []
    assert [(e["seq"], e["echo"]) for e in echoes] == [(0, "one"), (1, "two"), (2, "three")]
    assert answers.code() == grpc.StatusCode.OK
    after = [shop_metric(mesh, name, grpc_response_status="0") for name in counts]
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 3]


def test_a_bidi_stream_far_larger_than_the_windows_flows_both_ways(mesh: H2Mesh) -> None:
    """6 MiB each way in one bidirectional call, six times the 1 MiB stream window of each
    hop: the windows reopen as each side is read on, so nothing stalls or is lost."""
    message = b"x" * (96 * 1024)
    with shop_channel(mesh) as ch:
        call = ch.stream_stream("/meshproof.shop.Shop/BulkEcho")
        answers = [json.loads(a) for a in call(iter([message] * 64), timeout=30)]
    assert [a["seq"] for a in answers] == list(range(64))
    assert all(len(a["echo"]) == len(message) for a in answers)


def test_a_call_held_open_with_nothing_moving_is_reset_after_the_idle_timeout(
    mesh: H2Mesh,
) -> None:
    """A gRPC call whose client sends HEADERS and then nothing (it was served at once, so
    the request timeout no longer holds) is reset CANCEL after shop's 2 s idle timeout,
    and the listener serves on."""
    fields = [(":method", "POST"), (":scheme", "http"), (":authority", "shop")]
    fields += [(":path", "/meshproof.shop.Shop/ItemStream"), *GRPC]
    with H2Client(mesh.shop.inbound) as client:
        start = time.monotonic()
        client.conn.send_headers(1, fields, end_stream=False)
        client.sock.sendall(client.conn.data_to_send())
        held = {1: Answer()}
        client.read_until(lambda: held[1].reset is not None, held, timeout=SHOP_IDLE_S + 8)
        elapsed = time.monotonic() - start
    assert held[1].reset == 8 and elapsed >= SHOP_IDLE_S - 0.5, (held, elapsed)
    with shop_channel(mesh) as ch:
        assert len(list(ch.unary_stream("/meshproof.shop.Shop/ItemStream")(b"", timeout=10))) == 3


def test_a_stream_failing_after_it_began_reaches_the_caller_and_is_not_retried(
    mesh: H2Mesh,
) -> None:
    """retryOn unavailable: a stream that fails UNAVAILABLE after two messages reaches the
    caller as two messages and UNAVAILABLE, tried once; one failing before any message
    (its request still whole) is tried three times."""
    retries = metric(mesh.frontend, "meshproof_retries_total", destination_service="shop")
    tries = shop_metric(mesh, "istio_requests_total", grpc_response_status="14")
    got: list[bytes] = []
    with shop_channel(mesh) as ch, pytest.raises(grpc.RpcError) as failed:
        ask = json.dumps({"count": 5, "fail_after": 2}).encode()
        call = ch.unary_stream("/meshproof.shop.Shop/ItemStream")
        got.extend(call(ask, timeout=10, metadata=[("x-case", "retry")]))
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE and len(got) == 2  # type: ignore[attr-defined]  # fmt: skip
    assert shop_metric(mesh, "istio_requests_total", grpc_response_status="14") - tries == 1
    assert metric(mesh.frontend, "meshproof_retries_total", destination_service="shop") == retries
    behaviour = f"http://127.0.0.1:{mesh.shop.app}/_behaviour"
    assert requests.put(behaviour, json={"error_rate": 1.0}, timeout=5).status_code == 200
    try:
        with shop_channel(mesh) as ch, pytest.raises(grpc.RpcError) as failed:
            call = ch.stream_stream("/meshproof.shop.Shop/TalkEcho")
            list(call(iter([b"hi"]), timeout=10, metadata=[("x-case", "retry")]))
    finally:
        requests.put(behaviour, json={"error_rate": 0.0}, timeout=5)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert shop_metric(mesh, "istio_requests_total", grpc_response_status="14") - tries == 4
    assert metric(mesh.frontend, "meshproof_retries_total", destination_service="shop") - retries == 2  # fmt: skip


def test_a_replica_answering_unavailable_is_ejected_and_calls_go_to_the_healthy_one(
    mesh: H2Mesh,
) -> None:
    """flaky (consecutive5xxErrors 2, no retries): flaky-1's grpcio app answers every call
    UNAVAILABLE (trailers-only, HTTP status 200), which the caller's sidecar counts as a
    503 as Envoy counts a gRPC error; after its second one flaky-1 is ejected and every
    call goes to flaky-0 (before shop-0's app)."""
    behaviour = f"http://127.0.0.1:{mesh.flaky_b.app}/_behaviour"
    labels = {"reporter": "destination", "grpc_response_status": "14"}
    failed = metric(mesh.flaky_b, "istio_requests_total", **labels)
    assert requests.put(behaviour, json={"error_rate": 1.0}, timeout=5).status_code == 200
    try:
        with shop_channel(mesh, "flaky") as ch:
            call = ch.unary_unary("/meshproof.shop.Shop/Get")
            codes = []
            for _ in range(40):
                try:
                    codes.append(json.loads(call(b"{}", timeout=10))["instance"])
                except grpc.RpcError as exc:
                    codes.append(exc.code())  # type: ignore[attr-defined]
                if metric(mesh.frontend, "meshproof_outlier_ejections_total", destination_service="flaky"):  # fmt: skip
                    break
            assert codes.count(grpc.StatusCode.UNAVAILABLE) == 2, codes
            assert set(codes) <= {"shop-0", grpc.StatusCode.UNAVAILABLE}, codes
            assert mesh.frontend.stats()["upstreams"]["flaky"]["ejected"] == ["flaky-1"]
            served = {json.loads(call(b"{}", timeout=10))["instance"] for _ in range(10)}
    finally:
        requests.put(behaviour, json={"error_rate": 0.0}, timeout=5)
    assert served == {"shop-0"}
    assert metric(mesh.flaky_b, "istio_requests_total", **labels) - failed == 2
    ejections = metric(mesh.frontend, "meshproof_outlier_ejections_total", instance="flaky-1")
    assert ejections == 1


def test_an_upstream_killed_mid_stream_ends_the_call_in_error_and_is_not_replayed(
    mesh: H2Mesh,
) -> None:
    """flaky-1's grpcio process (shopb-0), SIGKILLed after sending two messages of a server
    stream: the caller has those messages and then an error status, soon; the call is not
    tried again though its route retries on reset, 5xx and unavailable. (It kills shopb-0:
    the last test to use it.)"""
    retries = metric(mesh.frontend, "meshproof_retries_total", destination_service="flaky")
    tried = metric(mesh.flaky_b, "istio_requests_total", reporter="destination")
    ask = json.dumps({"count": 50, "interval_ms": 200}).encode()
    got: list[dict[str, object]] = []
    killed = 0.0
    with shop_channel(mesh, "flaky") as ch, pytest.raises(grpc.RpcError) as failed:
        call = ch.unary_stream("/meshproof.shop.Shop/ItemStream")
        for message in call(ask, timeout=20, metadata=[("x-case", "b")]):
            got.append(json.loads(message))
            if len(got) == 2:
                mesh.shopb_app.stop()
                killed = time.monotonic()
    ended = time.monotonic() - killed
    code = failed.value.code()  # type: ignore[attr-defined]
    assert code not in (grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED), code
    assert ended < 5.0, (code, ended)
    assert [m["seq"] for m in got] == list(range(len(got))) and len(got) < 5, got
    assert {m["instance"] for m in got} == {"shopb-0"}
    assert metric(mesh.frontend, "meshproof_retries_total", destination_service="flaky") == retries  # fmt: skip
    wait_until(lambda: metric(mesh.flaky_b, "istio_requests_total", reporter="destination") > tried, 5, "flaky-1's count")  # fmt: skip
    assert metric(mesh.flaky_b, "istio_requests_total", reporter="destination") - tried == 1
