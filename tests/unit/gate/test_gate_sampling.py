"""The gate against what a run's number of requests can tell of a latency percentile."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from harness.analysis.stats import percentile, percentile_intervals
from harness.gate import GateSettings, gate_records
from harness.gate.output import markdown
from harness.store.meaning import first_impossible
from tests.fixtures.records import p99_record

# Two steady runs whose p99s happen to lie close: a third at 19 ms is far outside their
# spread (t-test p < 0.05) and 19 % above their mean, beyond the 15 % tolerance.
HISTORY = [p99_record(1, 16.0), p99_record(2, 16.1)]


def p99_of(result_metrics: list) -> object:
    return next(m for m in result_metrics if m.metric == "p99_ms")


def test_a_p99_the_requests_cannot_tell_from_the_history_is_ok_with_why() -> None:
    """The run's 400 requests put its p99 anywhere from 15.2 to 31 ms: no regression."""
    run = p99_record(3, 19.0, interval=(15.2, 31.0))
    result = gate_records(run, HISTORY, GateSettings(min_history=2))
    p99 = p99_of(result.metrics)
    assert p99.status == "ok"
    assert p99.reason.startswith("within what 400 requests can tell: the run's p99_ms lies from")
    assert "15.2" in p99.reason and "31" in p99.reason
    assert (result.outcome, result.exit_code) == ("pass", 0)
    row = next(line for line in markdown(result).splitlines() if line.startswith("| `p99_ms`"))
    assert "| ok |" in row and "within what 400 requests can tell" in row


def test_without_the_interval_the_same_p99_regresses() -> None:
    """The same run written before intervals were recorded: judged on its value alone."""
    result = gate_records(p99_record(3, 19.0), HISTORY, GateSettings(min_history=2))
    assert p99_of(result.metrics).status == "regression"
    assert (result.outcome, result.exit_code) == ("fail", 1)


def test_a_p99_whose_whole_interval_regressed_fails() -> None:
    """A p99 of 40 ms whose low end is 30 ms: beyond any sampling, a regression."""
    result = gate_records(p99_record(3, 40.0, (30.0, 55.0)), HISTORY, GateSettings(min_history=2))
    p99 = p99_of(result.metrics)
    assert p99.status == "regression" and p99.started_at == "20260103T000000Z-steady"
    assert result.failures[0].startswith("p99_ms regressed +")


def test_the_interval_is_the_order_statistics_the_binomial_count_falls_between() -> None:
    """400 values 1..400: the p99 (396.01) lies from the 392nd to the 400th; the p50 from
    the 181st to the 220th (Binomial(400, q) quantiles 2.5 % and 97.5 %)."""
    values = np.arange(1.0, 401.0)
    intervals = percentile_intervals(values, {"p99": 0.99, "p50": 0.5})
    assert intervals["p99"] == (392.0, 400.0)
    low, high = stats.binom.ppf([0.025, 0.975], 400, 0.5)
    assert intervals["p50"] == (low, high + 1)
    assert intervals["p50"][0] <= percentile(values, 0.5) <= intervals["p50"][1]


def test_the_interval_holds_the_true_percentile_about_95_times_in_100() -> None:
    """2000 samples of 400 log-normal latencies: the p99's interval holds the true p99 in
    93-98 % of them; missing values are left out, no values give no interval."""
    rng = np.random.default_rng(7)
    truth = float(np.exp(2 + 0.5 * stats.norm.ppf(0.99)))
    held = sum(
        low <= truth <= high
        for low, high in (
            percentile_intervals(rng.lognormal(2, 0.5, 400), {"p99": 0.99})["p99"]
            for _ in range(2000)
        )
    )
    assert 0.93 <= held / 2000 <= 0.98
    assert percentile_intervals(np.array([np.nan, 5.0]), {"p99": 0.99}) == {"p99": (5.0, 5.0)}
    assert percentile_intervals(np.array([]), {"p99": 0.99}) == {}


@pytest.mark.parametrize(
    ("interval", "problem"),
    [((20.0, 30.0), "20 to 30 does not hold its value 19"), ((25.0, 15.0), "is above")],
)
def test_an_interval_that_cannot_hold_its_percentile_is_refused(
    interval: tuple[float, float], problem: str
) -> None:
    where, why = first_impossible(p99_record(3, 19.0, interval)) or ("", "")
    assert where == "phase_summaries[0].intervals.p99_ms"
    assert problem in why
