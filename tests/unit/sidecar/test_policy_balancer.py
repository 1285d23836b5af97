"""Load-balancer choices: rotation, power of two choices, uniform random."""

from __future__ import annotations

import math
import random
from collections import Counter

from mesh_runtime.config import LoadBalancer
from mesh_runtime.sidecar.policy.balancer import LeastRequest, RandomPick, RoundRobin, make_balancer

HOSTS = ["catalog-0", "catalog-1", "catalog-2"]


def within_binomial(observed: int, trials: int, p: float, sigmas: float = 5.0) -> bool:
    """True when `observed` successes of `trials` fit probability `p` within `sigmas`."""
    sd = math.sqrt(trials * p * (1 - p))
    return abs(observed - trials * p) <= sigmas * sd


def test_make_balancer_returns_the_named_kind() -> None:
    """make_balancer maps each loadBalancer.simple value to its balancer."""
    rng = random.Random(1)
    assert isinstance(make_balancer(LoadBalancer(simple="ROUND_ROBIN"), rng), RoundRobin)
    assert isinstance(make_balancer(LoadBalancer(simple="LEAST_REQUEST"), rng), LeastRequest)
    assert isinstance(make_balancer(LoadBalancer(simple="RANDOM"), rng), RandomPick)


def test_every_balancer_returns_none_without_candidates() -> None:
    """No healthy candidate means no pick, for every kind."""
    rng = random.Random(1)
    for kind in ("ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"):
        balancer = make_balancer(LoadBalancer(simple=kind), rng)  # type: ignore[arg-type]
        assert balancer.pick([], {}) is None


def test_every_balancer_returns_the_single_candidate() -> None:
    """With one candidate every balancer picks it."""
    rng = random.Random(1)
    for kind in ("ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"):
        balancer = make_balancer(LoadBalancer(simple=kind), rng)  # type: ignore[arg-type]
        assert {balancer.pick(["only-0"], {}) for _ in range(20)} == {"only-0"}


def test_round_robin_rotates_through_candidates_in_order() -> None:
    """Round robin visits each host in turn."""
    rr = RoundRobin()
    assert [rr.pick(HOSTS, {}) for _ in range(6)] == HOSTS + HOSTS


def test_round_robin_continues_after_a_host_is_removed() -> None:
    """When the last-picked host disappears, rotation continues with the next one, not the first."""
    rr = RoundRobin()
    assert [rr.pick(HOSTS, {}) for _ in range(2)] == ["catalog-0", "catalog-1"]
    remaining = ["catalog-0", "catalog-2"]
    assert [rr.pick(remaining, {}) for _ in range(3)] == ["catalog-2", "catalog-0", "catalog-2"]


def test_round_robin_is_even_while_candidates_change() -> None:
    """Shrinking and growing the candidate list never skews the split by more than one."""
    rr = RoundRobin()
    counts: Counter[str] = Counter()
    for i in range(300):
        candidates = HOSTS if i % 10 else HOSTS[1:]
        counts[rr.pick(candidates, {}) or ""] += 1
    assert max(counts.values()) - min(counts.values()) <= 31
    assert sum(counts.values()) == 300


def test_round_robin_never_repeats_a_host_back_to_back() -> None:
    """With two or more candidates the same host is never chosen twice in a row."""
    rr = RoundRobin()
    rng = random.Random(7)
    previous = None
    for _ in range(500):
        candidates = sorted(rng.sample(HOSTS, k=rng.choice([2, 3])))
        chosen = rr.pick(candidates, {})
        assert chosen in candidates
        if previous in candidates:
            assert chosen != previous
        previous = chosen


def test_least_request_prefers_the_idle_host() -> None:
    """P2C with one busy host of two always picks the idle one."""
    lr = LeastRequest(random.Random(3))
    active = {"catalog-0": 10, "catalog-1": 0}
    picks = Counter(lr.pick(["catalog-0", "catalog-1"], active) for _ in range(1000))
    assert picks == {"catalog-1": 1000}


def test_least_request_avoids_the_busiest_of_three() -> None:
    """The busiest of three hosts is never chosen; the idlest wins two comparisons in three."""
    lr = LeastRequest(random.Random(4))
    active = {"catalog-0": 0, "catalog-1": 5, "catalog-2": 50}
    trials = 6000
    picks = Counter(lr.pick(HOSTS, active) for _ in range(trials))
    assert picks["catalog-2"] == 0
    assert within_binomial(picks["catalog-0"], trials, 2 / 3)


def test_least_request_spreads_evenly_when_all_are_idle() -> None:
    """With equal load P2C spreads requests evenly over all hosts."""
    lr = LeastRequest(random.Random(5))
    trials = 6000
    picks = Counter(lr.pick(HOSTS, {}) for _ in range(trials))
    for host in HOSTS:
        assert within_binomial(picks[host], trials, 1 / 3)


def test_random_is_uniform_within_binomial_tolerance() -> None:
    """RANDOM picks each of three hosts a third of the time."""
    rp = RandomPick(random.Random(6))
    trials = 9000
    picks = Counter(rp.pick(HOSTS, {}) for _ in range(trials))
    assert set(picks) == set(HOSTS)
    for host in HOSTS:
        assert within_binomial(picks[host], trials, 1 / 3)


def test_seeded_balancers_are_reproducible() -> None:
    """Two balancers with equally seeded rngs make the same choices."""
    for kind in (LeastRequest, RandomPick):
        a, b = kind(random.Random(9)), kind(random.Random(9))
        assert [a.pick(HOSTS, {}) for _ in range(50)] == [b.pick(HOSTS, {}) for _ in range(50)]
