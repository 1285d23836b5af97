"""Requests through the sidecars per second (`sidecar_request_rate`, the denominator of
CPU per 1000 RPS), measured between the scrapes that bound the phase."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.analysis.signals import PROXIED_REQUESTS, sidecar_request_rate
from harness.store.model import PhaseRecord


def scraped(rate: float, times: list[float]) -> pd.DataFrame:
    """The counter at a steady `rate`, scraped at `times` (seconds since t0)."""
    rows = [
        {"t_s": t, "metric": PROXIED_REQUESTS, "labels": "{}", "value": rate * t} for t in times
    ]
    return pd.DataFrame(rows)


def test_the_rate_is_the_increase_over_the_seconds_between_scrapes() -> None:
    """A phase ending 0.2 s after its last scrape: 900 requests in the 9 s between the
    scrapes, 100 per second (the phase's 8.7 s made it 103.4)."""
    metrics = scraped(100.0, [0.5 + i for i in range(12)])
    phase = PhaseRecord(name="whole", start_s=1.0, end_s=9.7)
    assert sidecar_request_rate(metrics, phase) == pytest.approx(100.0)


def test_a_phase_scraped_once_falls_back_to_its_length() -> None:
    """One scrape in the phase and none before: nothing to measure between, so the
    increase from 0 over the phase's length, as before."""
    metrics = scraped(100.0, [1.5])
    phase = PhaseRecord(name="whole", start_s=0.0, end_s=2.0)
    assert sidecar_request_rate(metrics, phase) == pytest.approx(75.0)
