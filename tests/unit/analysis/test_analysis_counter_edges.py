"""A capped count is not failed on events its counter's scrapes cannot place in the phase
(harness.analysis.signals.counter_surely_in, scrape_lag; harness.judge.verdicts), pure.

A Prometheus sample holds its target's last scrape, up to a scrape interval earlier, and
a phase's increase counts from the last sample before it: events of the phase before
(a fault's last retries) land in `after`. `timeout-budget --duration 20s` failed
`retries_per_krequests < 1 after:catalog-1-slow` at 1.39 on one retry sent 13 ms before
the fault ended, first seen in the sample after it.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.analysis.phases import phase_intervals
from harness.analysis.signals import counter_surely_in, scrape_lag
from harness.analysis.summary import RunFrames, summarize
from harness.analysis.windows import compute_windows
from harness.judge import exit_code, judge
from harness.observe.dialects import MESHPROOF
from harness.spec.slo import SLO
from harness.store.model import FaultEvent, PhaseRecord, Verdict
from tests.fixtures.make_run import steady_requests

FAULT = FaultEvent(name="slow", kind="toxic", target="a->b", start_s=4.0, end_s=12.79)
PHASES = phase_intervals(2.0, 20.0, [FAULT])
AFTER = next(p for p in PHASES if p.name == "after:slow")


def samples(metric: str, values: list[float], offset: float = 0.74) -> list[dict]:
    """One sample a second at `offset` past each whole second (the range query's grid)."""
    labels = json.dumps({"service": "b"})
    return [
        {"t_s": second + offset, "metric": metric, "labels": labels, "value": value}
        for second, value in enumerate(values)
    ]


def metrics(retries: list[float]) -> pd.DataFrame:
    """istio_requests_total growing 100 a scrape; meshproof_retries_total as given."""
    proxied = [100.0 * second for second in range(len(retries))]
    return pd.DataFrame(
        samples("istio_requests_total", proxied) + samples("meshproof_retries_total", retries)
    )


# 8 retries by the sample at 12.74; the 9th, sent at 12.777 (the fault ends at 12.79),
# first seen at 13.74; none after.
TAIL = [0.0] * 5 + [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 7.0, 8.0, 9.0] + [9.0] * 6


def test_the_scrape_lag_is_read_off_the_busy_counter() -> None:
    assert scrape_lag(metrics(TAIL), "istio_requests_total") == pytest.approx(1.0)
    every_15 = pd.DataFrame(
        samples("c", [float(100 * (second // 15)) for second in range(60)])
    )  # scraped every 15 s, sampled every 1 s
    assert scrape_lag(every_15, "c") == pytest.approx(15.0)


def test_events_next_to_the_phase_start_are_not_surely_the_phases() -> None:
    table = metrics(TAIL)
    assert counter_surely_in(table, "meshproof_retries_total", AFTER, 1.0) == 0.0
    later = [*TAIL[:15], 10.0, 10.0, 10.0, 10.0, 10.0]  # one more retry at 14.74: surely after
    assert counter_surely_in(metrics(later), "meshproof_retries_total", AFTER, 1.0) == 1.0


def verdict_of(slo_text: str, retries: list[float]) -> Verdict:
    requests = steady_requests(20)
    frames = RunFrames(
        requests,
        compute_windows(requests, PHASES),
        metrics=metrics(retries),
        dialect=MESHPROOF.bind(),
    )
    slo = SLO.model_validate(slo_text)
    summaries = summarize(frames, PHASES, [FAULT], [slo])
    (verdict,) = judge([slo], summaries)
    return verdict


def test_a_cap_failed_only_by_the_fault_s_last_retry_is_inconclusive() -> None:
    """1 retry in `after` (1.39 per 1000 of 719 requests) fails `< 1`, 0 surely in it
    holds: INCONCLUSIVE, exit 3, saying why; before, FAIL."""
    verdict = verdict_of("retries_per_krequests < 1 after:slow", TAIL)
    assert verdict.value == pytest.approx(1000 / 721, rel=0.01)
    assert verdict.outcome == "inconclusive" and not verdict.passed
    assert "its events next to the phase's start may belong to the phase before" in (verdict.reason)
    assert "scraped every 1 s" in verdict.reason
    assert exit_code([verdict], aborted=False) == 3


def test_a_cap_failed_by_retries_surely_in_the_phase_still_fails() -> None:
    later = [*TAIL[:15], 10.0, 11.0, 12.0, 12.0, 12.0]
    verdict = verdict_of("retries_per_krequests < 1 after:slow", later)
    assert verdict.outcome == "fail"


def test_a_floor_is_judged_on_the_count_as_it_is() -> None:
    """`>= 1` holds with the edge's retry counted (a fault's first events come at once)."""
    verdict = verdict_of("retries_per_krequests >= 1 after:slow", TAIL)
    assert verdict.outcome == "pass"


def test_a_phase_without_edge_events_has_no_bounds() -> None:
    flat = [0.0] * 20
    assert verdict_of("retries_per_krequests < 1 after:slow", flat).outcome == "pass"


def test_surely_in_needs_samples_in_the_phase() -> None:
    empty = PhaseRecord(name="x", start_s=50.0, end_s=60.0)
    assert counter_surely_in(metrics(TAIL), "meshproof_retries_total", empty, 1.0) is None
    assert counter_surely_in(metrics(TAIL), "nothing_total", AFTER, 1.0) is None
