"""The span exporter's endpoint URL and queue bound, without sending anything."""

from __future__ import annotations

import random

import pytest

from mesh_runtime.errors import InvalidInput
from mesh_runtime.sidecar.telemetry import SpanEncoder, SpanExporter, SpanRecorder

ENCODER = SpanEncoder({"service.name": "a"}, "s")


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1:4318/v1/traces", "http:///v1/traces", "http://127.0.0.1:99999/v1/traces"],
)
def test_a_bad_endpoint_is_one_clear_error(url: str) -> None:
    """A wrong scheme, no host or an impossible port is an InvalidInput naming the flag."""
    with pytest.raises(InvalidInput, match="--otlp-endpoint"):
        SpanExporter(url, ENCODER)


def test_spans_past_the_queue_bound_are_dropped_and_counted() -> None:
    """Ended spans queue up to max_queue; the rest are counted as dropped."""
    exporter = SpanExporter("http://127.0.0.1:4318/v1/traces", ENCODER, max_queue=3)
    recorder = SpanRecorder(exporter.add, rng=random.Random(1))
    for _ in range(5):
        recorder.start_server_span("inbound a", None).end(200)
    assert exporter.summary()["queued"] == 3 and exporter.dropped == 2
