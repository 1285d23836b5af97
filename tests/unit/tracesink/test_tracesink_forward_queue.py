"""The forwarding queue, the resource attributes and the URL rule of span forwarding."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from harness.observe.forward import forward_record
from mesh_runtime.otlp import retryable
from mesh_runtime.tracesink.forward import (
    BadForwardUrl,
    Forwarder,
    ForwardQueue,
    forward_url,
    span_count,
    with_resource_attributes,
)


def export_request(service: str, spans: int) -> ExportTraceServiceRequest:
    """One export of `spans` spans of `service` (one resource, one scope)."""
    request = ExportTraceServiceRequest()
    group = request.resource_spans.add()
    group.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value=service))
    )
    scope = group.scope_spans.add()
    for i in range(spans):
        span = scope.spans.add()
        span.trace_id, span.span_id = b"\x07" * 16, (i + 1).to_bytes(8, "big")
        span.name = f"op {i}"
    return request


def test_spans_that_do_not_fit_are_dropped_whole_and_counted() -> None:
    """An export that would overflow the queue is dropped (all its spans), the rest kept."""
    queue = ForwardQueue(max_spans=5)
    assert queue.offer(export_request("a", 3))
    assert not queue.offer(export_request("b", 3))
    assert queue.offer(export_request("c", 2))
    assert (queue.queued, queue.counts.dropped) == (5, 3)


def test_take_gives_whole_resource_groups_oldest_first_up_to_the_batch() -> None:
    """Batches hold whole groups in arrival order; a group larger than a batch goes alone."""
    queue = ForwardQueue(max_spans=100)
    for service, n in (("a", 2), ("b", 2), ("c", 10)):
        queue.offer(export_request(service, n))
    groups, spans = queue.take(max_spans=5)
    assert spans == 4 and [g.resource.attributes[0].value.string_value for g in groups] == [
        "a",
        "b",
    ]
    groups, spans = queue.take(max_spans=5)
    assert spans == 10 and len(groups) == 1
    assert queue.queued == 0 and queue.take() == ([], 0)


def test_sent_failed_and_rejected_spans_are_counted_apart() -> None:
    queue = ForwardQueue()
    queue.sent(10, rejected=2)
    queue.failed(5, "HTTP 503: unavailable")
    counts = queue.counts
    assert (counts.sent, counts.rejected, counts.failed) == (8, 2, 5)
    assert (counts.exports, counts.failed_exports, counts.last_error) == (
        2,
        1,
        "HTTP 503: unavailable",
    )


def test_a_batch_put_back_is_taken_again_first_in_its_order() -> None:
    """A batch whose POST is to be tried again goes back ahead of what came after it, in
    its own order, and counts as queued again; the try counts as a failed export."""
    queue = ForwardQueue(max_spans=10)
    for service, spans in (("a", 3), ("b", 4), ("c", 2)):
        queue.offer(export_request(service, spans))
    groups, spans = queue.take(max_spans=7)
    assert spans == 7 and queue.queued == 2
    queue.offer(export_request("d", 5))
    queue.put_back(groups)
    queue.retrying("HTTP 503: unavailable")
    assert queue.queued == 14 and not queue.offer(export_request("e", 1))
    again, spans = queue.take(max_spans=100)
    names = [g.resource.attributes[0].value.string_value for g in again]
    assert (names, spans, queue.queued) == (["a", "b", "c", "d"], 14, 0)
    counts = queue.counts
    assert (counts.exports, counts.failed_exports, counts.failed, counts.dropped) == (1, 1, 0, 1)
    assert counts.last_error == "HTTP 503: unavailable"


def test_the_backoff_doubles_from_half_a_second_to_five() -> None:
    forwarder = Forwarder("http://127.0.0.1:4318/v1/traces", {})
    delays = []
    for failing in range(1, 8):
        forwarder.failing = failing
        delays.append(forwarder.backoff())
    assert delays == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


@pytest.mark.parametrize(
    ("status", "again"),
    [
        *[(status, True) for status in (408, 429, 500, 502, 503, 504)],
        *[(status, False) for status in (301, 400, 401, 404, 413)],
    ],
)
def test_only_timeouts_throttling_and_server_errors_are_tried_again(
    status: int, again: bool
) -> None:
    """The forwarder and the sidecars' exporter share one rule: 408, 429 and any 5xx
    send the batch again; any other answer refuses it for good."""
    assert retryable(status) is again


def test_every_forwarded_resource_carries_the_run_id_once() -> None:
    """The run id is added to each resource (replacing a value it had), the rest kept."""
    first = export_request("cart", 2)
    first.resource_spans[0].resource.attributes.append(
        KeyValue(key="meshproof.run.id", value=AnyValue(string_value="old"))
    )
    groups = [*first.resource_spans, *export_request("catalog", 1).resource_spans]
    out = with_resource_attributes(groups, {"meshproof.run.id": "run-1"})
    assert span_count(out) == 3
    for group in out.resource_spans:
        attributes = [(kv.key, kv.value.string_value) for kv in group.resource.attributes]
        assert attributes.count(("meshproof.run.id", "run-1")) == 1
        assert [k for k, _ in attributes].count("meshproof.run.id") == 1
        assert attributes[0][0] == "service.name"
    # the queued originals are not changed
    assert [kv.key for kv in groups[0].resource.attributes] == ["service.name", "meshproof.run.id"]


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
        ("http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/traces"),
        ("https://tempo.example:443/otlp/v1/traces", "https://tempo.example:443/otlp/v1/traces"),
    ],
)
def test_a_bare_base_url_gets_the_traces_path(text: str, url: str) -> None:
    assert forward_url(text) == url


@pytest.mark.parametrize(
    "text", ["127.0.0.1:4318", "grpc://collector:4317", "http://", "http://h:99999"]
)
def test_a_url_that_is_not_http_is_refused(text: str) -> None:
    with pytest.raises(BadForwardUrl):
        forward_url(text)


def test_spans_still_held_at_the_end_count_as_unsent_and_lost() -> None:
    """run.json's record: what the sink still queued or had in flight is unsent."""
    stats = {
        "url": "http://127.0.0.1:4318/v1/traces",
        "attributes": {"meshproof.run.id": "r"},
        "queued": 3,
        "in_flight": 2,
        "sent": 90,
        "dropped": 4,
        "failed": 1,
        "rejected": 0,
        "exports": 9,
        "failed_exports": 1,
        "last_error": "TimeoutError",
    }
    record = forward_record(stats)
    assert (record.unsent, record.lost, record.sent) == (5, 10, 90)


def test_the_run_finds_the_sink_of_each_kind_of_deployment(tmp_path: Path) -> None:
    """An external target's receiver at its traces.listen (a wildcard on loopback, forward
    URL normalised); the reference mesh's sink at its process port; none: refused."""
    from harness.observe.forward import ForwardingUnavailable, sink_url
    from mesh_runtime.runtimes.deployment import ProcessRecord
    from mesh_runtime.runtimes.external import external_deployment
    from mesh_runtime.target import load_target

    base = {
        "name": "staging",
        "mesh": "istio",
        "ingress": {"url": "http://127.0.0.1:8080"},
        "prometheus": {"url": "http://127.0.0.1:9090"},
        "services": {"gateway": {"ingress": True}},
    }
    path = tmp_path / "target.yaml"
    path.write_text(
        yaml.safe_dump(
            {**base, "traces": {"listen": "0.0.0.0:4318", "forward": "http://127.0.0.1:14318"}}
        )
    )
    target = load_target(path)
    assert target.traces is not None and target.traces.forward == "http://127.0.0.1:14318/v1/traces"
    external = external_deployment(target, path, tmp_path)
    assert sink_url(external) == "http://127.0.0.1:4318"
    path.write_text(yaml.safe_dump(base))
    without = external_deployment(load_target(path), path, tmp_path)
    with pytest.raises(ForwardingUnavailable, match="no traces"):
        sink_url(without)
    sink = ProcessRecord(role="trace-sink", name="trace-sink", pid=1, ports={"port": 20001},
                         create_time=0.0, command=[])  # fmt: skip
    local = without.model_copy(update={"target": None, "processes": [sink]})
    assert sink_url(local) == "http://127.0.0.1:20001"
    with pytest.raises(ForwardingUnavailable, match="no trace sink"):
        sink_url(local.model_copy(update={"processes": []}))


def test_the_end_of_a_run_does_not_wait_for_an_endpoint_that_keeps_failing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """finish_forwarding waits while the sink's endpoint answers, and stops at the third
    failed try in a row: the spans still held are then unsent, with no wait to the end."""
    import harness.observe.forward as run_side

    answers = iter([(40, 0), (40, 1), (40, 2), (40, 3), (0, 0)])
    seen: list[int] = []

    def stats(sink: str) -> dict[str, object]:
        queued, failing = next(answers)
        seen.append(failing)
        return {
            "url": "http://127.0.0.1:4318/v1/traces",
            "queued": queued,
            "in_flight": 0,
            "sent": 0,
            "dropped": 0,
            "failed": 0,
            "exports": failing,
            "failed_exports": failing,
            "failing": failing,
        }

    monkeypatch.setattr(run_side, "forward_stats", stats)
    record = run_side.finish_forwarding("sink", 60, clock=lambda: 0.0, pause=lambda s: None)
    assert seen == [0, 1, 2, 3] and (record.unsent, record.failed_exports) == (40, 3)
