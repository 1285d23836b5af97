"""A real grpc-go client (fortio's gRPC ping) through the mTLS sidecar pair: its BDP
pings, one after every answer it reads, are not taken for a PING flood."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from harness.bench.fortio_rounds import measure
from harness.bench.pairs import sidecar_mtls_pair, trace_sink
from harness.bench.procs import fortio_server, free_port

pytestmark = pytest.mark.integration


def test_a_grpc_go_client_on_one_busy_connection_is_never_refused(tmp_path: Path) -> None:
    """300 calls a second on one connection (six times the flood guard's 50 unanswered
    PINGs a second) for 3 s: every call answered SERVING, none cut by a GOAWAY."""
    with ExitStack() as stack:
        grpc_port = free_port()
        stack.enter_context(fortio_server(grpc_port=grpc_port, tcp_port=free_port()))
        otlp = stack.enter_context(trace_sink(tmp_path))
        pair = sidecar_mtls_pair(grpc_port, tmp_path, otlp, protocol="grpc")
        target = stack.enter_context(pair)
        sample = measure(target, 300, 1, 3.0, ("-grpc", "-ping"))
    assert sample.requests > 600
    assert sample.errors == 0
