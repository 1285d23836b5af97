"""The service-hop bench's arithmetic: CPU per request per process, and the two hops."""

from __future__ import annotations

import pytest

from harness.bench.fortio_rounds import Sample
from harness.bench.service_hop import server_hop_in_process, summarise


def _sample(requests: int, a: float, b: float, sidecar: float) -> Sample:
    cpu = {"app-a": a, "app-b": b, "sidecar": sidecar}
    return Sample(
        qps=300.0, seconds=10.0, percentiles_ms={}, errors=0, requests=requests, cpu_s=cpu
    )


def test_hops_are_b_alone_and_a_minus_b_median_over_rounds() -> None:
    """b's CPU per request is a server hop; a's minus b's is the client hop it adds; each
    app's share of the sidecar's CPU is the median of the rounds' shares."""
    rounds = [_sample(1000, 0.5, 0.3, 0.6), _sample(2000, 0.8, 0.4, 1.0), _sample(1000, 9, 9, 9)]
    row = summarise({"apps": rounds})["apps"]
    assert row["app-b"] == pytest.approx(0.3)  # median of 0.3, 0.2, 9 ms
    assert row["app-a"] == pytest.approx(0.5)  # median of 0.5, 0.4, 9 ms
    assert row["server hop"] == pytest.approx(0.3)
    assert row["client hop"] == pytest.approx(0.2)
    assert row["sidecar"] == pytest.approx(0.6)
    # per round 0.3 / 0.6, 0.2 / 0.5, 9 / 9 and 0.5 / 0.6, 0.4 / 0.5, 9 / 9: medians
    assert row["b / sidecar"] == pytest.approx(0.5)
    assert row["a / sidecar"] == pytest.approx(0.5 / 0.6)


def test_in_process_server_hop_answers_every_request_200() -> None:
    """The in-process figure is of served requests: every one answered 200 by the service
    through the listener (else the bench refuses to report), one figure per repeat."""
    figures = server_hop_in_process(requests=50, repeats=2)
    assert len(figures) == 2 and all(f > 0 for f in figures)
