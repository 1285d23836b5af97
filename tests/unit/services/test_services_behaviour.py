"""Sample service behaviour: validation, partial updates, latency sampling, failures."""

from __future__ import annotations

import json
import random
import statistics

import pytest

from mesh_runtime.services.behaviour import (
    Behaviour,
    BehaviourError,
    Latency,
    RoundRobin,
    padded_body,
    sample_latency_ms,
    should_fail,
    updated,
)

N = 20_000


def _samples(latency: Latency, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [sample_latency_ms(latency, rng) for _ in range(N)]


def test_partial_update_changes_only_the_given_fields() -> None:
    """A nested partial object keeps every field it does not name."""
    start = updated(Behaviour(), {"latency": {"distribution": "normal", "mean_ms": 20}})
    after = updated(start, {"latency": {"stddev_ms": 5}, "error_rate": 0.25})
    assert after.latency == Latency(distribution="normal", mean_ms=20, stddev_ms=5)
    assert after.error_rate == 0.25
    assert after.error_status == 503 and after.propagate_trace is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"error_rate": 1.5}, "error_rate: Input should be less than or equal to 1"),
        ({"latency": {"distribution": "pareto"}}, "latency.distribution: Input should be"),
        ({"latency": {"mean_ms": -1}}, "latency.mean_ms: Input should be greater than"),
        ({"error_status": 200}, "error_status: Input should be greater than or equal to 400"),
        ({"hangs": True}, "hangs: unknown field"),
        ([1, 2], "body: expected a JSON object"),
    ],
)
def test_invalid_update_names_the_field(change: object, message: str) -> None:
    """A bad update raises BehaviourError '<field path>: <problem>'."""
    with pytest.raises(BehaviourError) as caught:
        updated(Behaviour(), change)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"hang": "yes"}', 'hang: expected true or false, not the string "yes"'),
        ('{"propagate_trace": 0}', "propagate_trace: expected true or false, not 0"),
        ('{"error_rate": "0.5"}', 'error_rate: expected a number, not the string "0.5"'),
        ('{"error_rate": true}', "error_rate: expected a number, not true"),
        ('{"latency": {"mean_ms": "5"}}', "latency.mean_ms: expected a number, not the string"),
        ('{"error_status": true}', "error_status: expected an integer, not true"),
        ('{"response_bytes": "12"}', 'response_bytes: expected an integer, not the string "12"'),
        ('{"error_rate": NaN}', "error_rate: expected a finite number, not NaN"),
        ('{"latency": {"stddev_ms": Infinity}}', "latency.stddev_ms: expected a finite number,"),
        ('{"latency": {"mean_ms": -1e400}}', "latency.mean_ms: expected a finite number, not -Inf"),
        ('{"latency": 5}', "latency: expected a JSON object, not 5"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused(body: str, message: str) -> None:
    """A boolean takes only true / false, a number only a JSON number, never NaN or
    Infinity: each is a BehaviourError saying so ('yes', '0.5' and true were coerced, and
    NaN was 'less than or equal to 1')."""
    with pytest.raises(BehaviourError) as caught:
        updated(Behaviour(), json.loads(body))
    assert str(caught.value).startswith(message)


def test_an_integer_is_a_number_where_a_number_goes() -> None:
    """A JSON integer is taken where a float goes, as the experiments write `mean_ms: 1000`."""
    after = updated(Behaviour(), {"error_rate": 1, "latency": {"mean_ms": 1000}})
    assert (after.error_rate, after.latency.mean_ms) == (1.0, 1000.0)


def test_fixed_latency_is_exact_and_zero_mean_is_no_delay() -> None:
    """fixed gives the mean every time; a zero mean never delays, whatever the distribution."""
    assert set(_samples(Latency(mean_ms=12.5))[:100]) == {12.5}
    assert sample_latency_ms(Latency(distribution="lognormal"), random.Random(1)) == 0.0


@pytest.mark.parametrize(
    ("latency", "stddev"),
    [
        (Latency(distribution="normal", mean_ms=50, stddev_ms=5), 5.0),
        (Latency(distribution="exponential", mean_ms=20), 20.0),
        (Latency(distribution="lognormal", mean_ms=30, stddev_ms=15), 15.0),
        (Latency(distribution="lognormal", mean_ms=20, stddev_ms=30), 30.0),
    ],
)
def test_distributions_have_the_configured_mean_and_spread(latency: Latency, stddev: float) -> None:
    """Seeded samples land within 3 % of the configured mean and 6 % of the stddev."""
    samples = _samples(latency)
    assert statistics.fmean(samples) == pytest.approx(latency.mean_ms, rel=0.03)
    assert statistics.stdev(samples) == pytest.approx(stddev, rel=0.06)
    assert min(samples) >= 0


@pytest.mark.parametrize("mean_ms", [1e-200, 5e-324])
def test_lognormal_latency_with_a_tiny_mean_is_a_tiny_delay(mean_ms: float) -> None:
    """A valid lognormal whose spread dwarfs its mean (stddev/mean squared overflows a
    float) samples delays near 0 ms; it raised OverflowError, a 500 for every request."""
    latency = Latency(distribution="lognormal", mean_ms=mean_ms, stddev_ms=600_000)
    samples = [sample_latency_ms(latency, random.Random(seed)) for seed in range(50)]
    assert all(0 <= sample < 1e-3 for sample in samples)


def test_normal_latency_is_never_negative() -> None:
    """A wide normal distribution is clipped at zero."""
    samples = _samples(Latency(distribution="normal", mean_ms=5, stddev_ms=10))
    assert min(samples) == 0.0


def test_error_rate_is_the_share_of_failed_requests() -> None:
    """should_fail is true for about error_rate of requests; 0 and 1 are exact."""
    rng = random.Random(3)
    quarter = Behaviour(error_rate=0.25)
    share = sum(should_fail(quarter, rng) for _ in range(N)) / N
    assert share == pytest.approx(0.25, abs=0.01)
    assert not any(should_fail(Behaviour(), rng) for _ in range(1000))
    assert all(should_fail(Behaviour(error_rate=1.0), rng) for _ in range(1000))


def test_padded_body_has_exactly_the_requested_size() -> None:
    """Padding makes valid JSON of exactly `size` bytes; a larger payload is kept whole."""
    payload = {"service": "catalog", "calls": []}
    for size in (100, 1024, 65536):
        body = padded_body(payload, size)
        assert len(body) == size
        assert json.loads(body)["service"] == "catalog"
    assert padded_body(payload, 10) == b'{"service":"catalog","calls":[]}'


def test_an_answer_is_the_compact_json_that_json_dumps_makes() -> None:
    """The answer's encoder writes what json.dumps with compact separators does: numbers,
    non-ASCII text, nesting and all."""
    calls = [{"service": "c", "ms": 0.123, "calls": [{"x": [1e300, -0.0, None, True]}]}]
    payload = {"service": 'é\u2028"\\', "calls": calls, "n": float("inf")}
    compact = json.dumps(payload, separators=(",", ":")).encode()
    assert padded_body(payload, 0) == compact


def test_round_robin_cycles_in_order() -> None:
    """Addresses are picked in turn and the cycle repeats."""
    rr = RoundRobin(["a:1", "b:2", "c:3"])
    assert [rr.pick() for _ in range(7)] == ["a:1", "b:2", "c:3", "a:1", "b:2", "c:3", "a:1"]
    with pytest.raises(ValueError):
        RoundRobin([])


def test_failed_call_status_passes_5xx_through() -> None:
    """A downstream 503 or 504 reaches the caller as is; a 4xx or no answer becomes 502."""
    from mesh_runtime.services.app import failure_status

    assert failure_status(503) == 503
    assert failure_status(504) == 504
    assert failure_status(429) == 502
    assert failure_status(0) == 502
