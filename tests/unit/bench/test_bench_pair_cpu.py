"""The in-process pair bench: requests go through both sidecars' code and come back 200."""

from __future__ import annotations

import pytest
import uvloop

from harness.bench.pair_cpu import _pair_cpu_us


@pytest.mark.parametrize("mtls", [False, True], ids=["plain", "mtls"])
def test_every_request_is_answered_through_the_pair_and_costs_cpu(mtls: bool) -> None:
    """Client -> outbound -> inbound -> echo app over loopback sockets, plain text or mTLS
    between the sidecars: every request is answered 200 with the 1 KiB body (a refusal, or
    an outbound that cannot originate mTLS to the inbound, would raise), and the figure is
    per request."""
    figure = uvloop.run(_pair_cpu_us(requests=40, connections=2, mtls=mtls, warm=20))
    assert 0 < figure < 1e6
