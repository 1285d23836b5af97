"""Outlier detection: consecutive errors, ejection time, max ejection percent, panic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_runtime.config import OutlierDetection
from mesh_runtime.sidecar.policy.outlier import OutlierDetector
from mesh_runtime.sidecar.policy.retry import AttemptResult

OK = AttemptResult(200)
E500 = AttemptResult(500)
E503 = AttemptResult(503)
CONNECT = AttemptResult(None, "connect-failure")
TIMEOUT = AttemptResult(None, "timeout")
HOSTS = ["catalog-0", "catalog-1"]


def policy(**fields: object) -> OutlierDetection:
    data: dict[str, object] = {"baseEjectionTime": "5s", "maxEjectionPercent": 50}
    data.update(fields)
    return OutlierDetection.model_validate(data)


def feed(
    detector: OutlierDetector, host: str, results: list[AttemptResult], now: float
) -> list[bool]:
    return [detector.record(host, r, now) for r in results]


def test_consecutive_5xx_ejects_on_the_threshold() -> None:
    """The fifth 5xx in a row ejects the host, and only that result reports it."""
    d = OutlierDetector(policy(consecutive5xxErrors=5), HOSTS)
    assert feed(d, "catalog-0", [E500] * 5, now=0.0) == [False] * 4 + [True]
    assert d.is_ejected("catalog-0", 0.1)
    assert not d.is_ejected("catalog-1", 0.1)
    assert d.ejections("catalog-0") == 1


def test_a_success_resets_the_count() -> None:
    """An answer below 500 between errors prevents ejection."""
    d = OutlierDetector(policy(consecutive5xxErrors=3), HOSTS)
    assert not any(feed(d, "catalog-0", [E500, E500, OK, E500, E500], now=0.0))
    assert not d.is_ejected("catalog-0", 0.0)


def test_local_failures_count_as_5xx() -> None:
    """Connect failures and timeouts count toward consecutive5xxErrors."""
    d = OutlierDetector(policy(consecutive5xxErrors=3), HOSTS)
    assert feed(d, "catalog-0", [CONNECT, TIMEOUT, E503], now=0.0)[-1] is True


def test_gateway_errors_ignore_plain_500() -> None:
    """consecutiveGatewayErrors counts 502/503/504 and connect failures; a 500 resets it."""
    d = OutlierDetector(policy(consecutive5xxErrors=0, consecutiveGatewayErrors=3), HOSTS)
    assert not any(feed(d, "catalog-0", [E503, CONNECT, E500, E503, E503], now=0.0))
    assert feed(d, "catalog-0", [CONNECT], now=0.0) == [True]


def test_ejection_ends_after_base_time_times_ejections() -> None:
    """The first ejection lasts baseEjectionTime, the second twice as long."""
    d = OutlierDetector(policy(consecutive5xxErrors=1), HOSTS)
    assert d.record("catalog-0", E500, now=100.0)
    assert d.is_ejected("catalog-0", 104.9)
    assert not d.is_ejected("catalog-0", 105.0)
    assert d.record("catalog-0", E500, now=200.0)
    assert d.is_ejected("catalog-0", 209.9)
    assert not d.is_ejected("catalog-0", 210.0)
    assert d.ejections("catalog-0") == 2


def test_ejection_time_is_capped_like_envoy() -> None:
    """Repeated ejections never last longer than 300 s (Envoy's max_ejection_time default)."""
    d = OutlierDetector(policy(consecutive5xxErrors=1, baseEjectionTime="100s"), HOSTS)
    now = 0.0
    for _ in range(5):
        assert d.record("catalog-0", E500, now)
        now += 1000.0
    assert d.is_ejected("catalog-0", now - 1000.0 + 299.0)
    assert not d.is_ejected("catalog-0", now - 1000.0 + 300.0)


def test_errors_of_an_ejected_host_do_not_eject_it_again() -> None:
    """Results of a host already ejected neither extend nor count a new ejection."""
    d = OutlierDetector(policy(consecutive5xxErrors=1), HOSTS)
    assert d.record("catalog-0", E500, now=0.0)
    assert not d.record("catalog-0", E500, now=1.0)
    assert d.ejections("catalog-0") == 1
    assert not d.is_ejected("catalog-0", 5.0)


def test_max_ejection_percent_allows_one_of_two_at_fifty() -> None:
    """With two hosts and 50 %, one is ejected and the second is not."""
    d = OutlierDetector(policy(consecutive5xxErrors=1, maxEjectionPercent=50), HOSTS)
    assert d.record("catalog-0", E500, now=0.0)
    assert not d.record("catalog-1", E500, now=0.0)
    assert d.ejected(0.0) == ["catalog-0"]


def test_max_ejection_percent_never_exceeded() -> None:
    """With four hosts and 50 %, at most two are ejected at once."""
    hosts = [f"catalog-{i}" for i in range(4)]
    d = OutlierDetector(policy(consecutive5xxErrors=1, maxEjectionPercent=50), hosts)
    assert [d.record(h, E500, now=0.0) for h in hosts] == [True, True, False, False]


def test_default_ten_percent_ejects_nothing_with_two_hosts() -> None:
    """Istio's default maxEjectionPercent of 10 leaves a two-host cluster alone."""
    d = OutlierDetector(OutlierDetection(consecutive5xxErrors=1), HOSTS)
    assert not d.record("catalog-0", E500, now=0.0)


def test_healthy_skips_ejected_hosts() -> None:
    """healthy() leaves out ejected hosts until their ejection ends."""
    d = OutlierDetector(policy(consecutive5xxErrors=1), HOSTS)
    d.record("catalog-1", E500, now=0.0)
    assert d.healthy(HOSTS, 1.0) == ["catalog-0"]
    assert d.healthy(HOSTS, 5.0) == HOSTS


def test_healthy_returns_all_when_all_are_ejected() -> None:
    """Panic routing: when every host is ejected, every host is a candidate."""
    d = OutlierDetector(policy(consecutive5xxErrors=1, maxEjectionPercent=100), HOSTS)
    d.record("catalog-0", E500, now=0.0)
    d.record("catalog-1", E500, now=0.0)
    assert d.ejected(1.0) == HOSTS
    assert d.healthy(HOSTS, 1.0) == HOSTS


def test_no_policy_never_ejects() -> None:
    """Without outlierDetection nothing is ever ejected."""
    d = OutlierDetector(None, HOSTS)
    assert not any(feed(d, "catalog-0", [E500] * 100, now=0.0))
    assert d.healthy(HOSTS, 0.0) == HOSTS


def test_update_keeps_state_and_removal_lifts_ejections() -> None:
    """A new policy keeps ejections; removing the policy lifts them."""
    d = OutlierDetector(policy(consecutive5xxErrors=1), HOSTS)
    d.record("catalog-0", E500, now=0.0)
    d.update(policy(consecutive5xxErrors=2))
    assert d.is_ejected("catalog-0", 1.0)
    d.update(None)
    assert not d.is_ejected("catalog-0", 1.0)
    assert d.ejections("catalog-0") == 1


def test_set_instances_forgets_removed_hosts() -> None:
    """Removed instances lose their state; the share is computed over current hosts."""
    d = OutlierDetector(policy(consecutive5xxErrors=1, maxEjectionPercent=50), HOSTS)
    d.record("catalog-0", E500, now=0.0)
    d.set_instances(["catalog-1", "catalog-2"])
    assert not d.is_ejected("catalog-0", 1.0)
    assert d.ejections("catalog-0") == 0
    assert d.record("catalog-1", E500, now=1.0)
    assert not d.record("catalog-2", E500, now=1.0)


@settings(max_examples=200, deadline=None)
@given(
    hosts=st.integers(min_value=1, max_value=8),
    percent=st.integers(min_value=0, max_value=100),
    events=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=7),
            st.sampled_from([OK, E500, E503, CONNECT, TIMEOUT]),
            st.floats(min_value=0.0, max_value=3.0),
        ),
        max_size=200,
    ),
)
def test_ejected_share_never_exceeds_max_ejection_percent(
    hosts: int, percent: int, events: list[tuple[int, AttemptResult, float]]
) -> None:
    """Whatever the results and timing, ejected hosts stay within maxEjectionPercent."""
    names = [f"h-{i}" for i in range(hosts)]
    d = OutlierDetector(policy(consecutive5xxErrors=2, maxEjectionPercent=percent), names)
    now = 0.0
    for index, result, step in events:
        now += step
        d.record(names[index % hosts], result, now)
        assert 100 * len(d.ejected(now)) <= percent * hosts
        assert d.healthy(names, now)
