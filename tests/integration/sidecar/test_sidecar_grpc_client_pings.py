"""A real grpc-go client (fortio's gRPC ping) through the mTLS sidecar pair: its BDP
pings, one after every answer it reads, are not taken for a PING flood."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from harness.bench.fortio_rounds import measure
from harness.bench.pairs import sidecar_mtls_pair, trace_sink
from harness.bench.procs import fortio_server
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.sidecar.h2_guard import FloodLimits

pytestmark = pytest.mark.integration


SECONDS = 4.0


def test_a_grpc_go_client_on_one_busy_connection_is_never_refused(tmp_path: Path) -> None:
    """Calls as fast as one connection carries them for 4 s, each followed by a BDP ping:
    more than twice the flood guard's unanswered PINGs a second, so the guard is really
    exercised (the old guard refused it), yet every call is answered SERVING."""
    with ExitStack() as stack:
        grpc_port = fresh_port()
        stack.enter_context(fortio_server(grpc_port=grpc_port, tcp_port=fresh_port()))
        otlp = stack.enter_context(trace_sink(tmp_path))
        pair = sidecar_mtls_pair(grpc_port, tmp_path, otlp, protocol="grpc")
        target = stack.enter_context(pair)
        sample = measure(target, 0, 1, SECONDS, ("-grpc", "-ping"))
    assert sample.requests > 2 * FloodLimits().pings_per_s * SECONDS, sample
    assert sample.errors == 0, sample
