"""A connection the sidecar's L4 outbound refuses at once is reset, not left open."""

from __future__ import annotations

import socket

import pytest
from sidecar_mesh import mesh_config
from sidecar_procs import Processes

from mesh_runtime.runtimes.ports import fresh_port

pytestmark = pytest.mark.integration


def test_a_connection_with_no_healthy_upstream_is_reset(procs: Processes) -> None:
    """kv has no endpoints (UH): each accepted connection is reset right away; before, the
    refusal came before the loop handed over the socket and the connection hung open."""
    config = mesh_config({"gateway": {}, "kv": {"protocol": "tcp", "endpoints": []}})
    port = fresh_port()
    procs.sidecar(
        "gateway", "gateway-0", fresh_port(), config, extra=["--tcp-outbound", f"kv={port}"]
    )
    for _ in range(3):
        # the reset may come as soon as the connect (ECONNRESET from connect itself)
        with (
            pytest.raises(ConnectionResetError),
            socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        ):
            sock.sendall(b"PING\n")
            sock.recv(100)  # a hung connection times out here instead
