"""The in-process pair bench: requests go through both sidecars' code and come back 200."""

from __future__ import annotations

import uvloop

from harness.bench.pair_cpu import _pair_cpu_us


def test_every_request_is_answered_through_the_pair_and_costs_cpu() -> None:
    """Client -> outbound -> inbound -> echo app over loopback sockets, mTLS between the
    sidecars (`--mtls`; the plain pair is the same code without the two contexts): every
    request is answered 200 with the 1 KiB body (a refusal, or an outbound that does not
    originate mTLS to the TLS-only inbound, would raise), and the figure is per request."""
    figure = uvloop.run(_pair_cpu_us(requests=40, connections=2, mtls=True, warm=20))
    assert 0 < figure < 1e6
