"""A route's L7 fault acts before its retries and timeout (what experiments/README.md says).

An aborted request is answered by the fault and never retried; a delay is waited out
before the route timeout starts; requests the fault lets through keep the route's retries.
"""

from __future__ import annotations

import asyncio
import time

from tests.unit.sidecar_core.test_core_outbound import get, proxy

RETRIES = {"attempts": 3, "retryOn": "5xx,connect-failure", "backoffBaseInterval": "1ms"}


def test_an_aborted_request_is_never_retried() -> None:
    """100 % abort 503 on a route that retries 5xx: 503 FI at once, no retry counted."""
    fault = {"abort": {"httpStatus": 503, "percentage": 100}}
    outbound, metrics = proxy({"http": [{"fault": fault, "retries": RETRIES}]})
    response = asyncio.run(outbound.handle(get(b"catalog")))
    assert (response.status, response.flags) == (503, "FI")
    assert metrics.snapshot()["retries"] == {}


def test_a_delay_does_not_count_against_the_route_timeout() -> None:
    """A 200 ms delay on a route with a 50 ms timeout: no 504 UT; the request goes on after
    the delay (here to a closed port: 503 UF, flagged DI)."""
    fault = {"delay": {"fixedDelay": "200ms", "percentage": 100}}
    outbound, _ = proxy({"http": [{"fault": fault, "timeout": "50ms"}]})
    start = time.monotonic()
    response = asyncio.run(outbound.handle(get(b"catalog")))
    assert time.monotonic() - start >= 0.2
    assert response.status == 503 and response.flags.split(",")[0] == "DI"
    assert "UT" not in response.flags and "UF" in response.flags


def test_requests_the_fault_lets_through_keep_the_routes_retries() -> None:
    """A header-matched abort: other requests still get the route's retries (connect
    failures retried, counted), unlike Istio, which disables retries on the whole route."""
    fault = {
        "abort": {"httpStatus": 503, "percentage": 100},
        "headers": {"x-probe": {"exact": "1"}},
    }
    outbound, metrics = proxy({"http": [{"fault": fault, "retries": RETRIES}]})
    response = asyncio.run(outbound.handle(get(b"catalog")))
    assert response.status == 503 and "FI" not in response.flags
    assert metrics.snapshot()["retries"] == {"catalog": 3}
