"""E-divisive means (Matteson & James 2014) on synthetic series."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness.gate.edivisive import e_divisive, q_statistics


def brute_q(values: np.ndarray, tau: int) -> float:
    """The energy statistic straight from its definition."""
    x, y = values[:tau], values[tau:]
    n, m = len(x), len(y)
    between = sum(abs(a - b) for a in x for b in y)
    within_x = sum(abs(a - b) for a, b in itertools.combinations(x, 2))
    within_y = sum(abs(a - b) for a, b in itertools.combinations(y, 2))
    energy = 2 * between / (n * m)
    energy -= within_x / (n * (n - 1) / 2) if n > 1 else 0
    energy -= within_y / (m * (m - 1) / 2) if m > 1 else 0
    return n * m / (n + m) * energy


def test_q_statistics_match_the_definition() -> None:
    """The prefix-sum Q(tau) equals the textbook energy statistic at every split."""
    values = np.random.default_rng(1).normal(0, 1, 12)
    q = q_statistics(values, min_size=1)
    for tau in range(1, 12):
        assert q[tau] == pytest.approx(brute_q(values, tau))


def test_finds_a_planted_change_point() -> None:
    """A mean shift of 4 sigma after 30 of 50 points is found at index 30."""
    rng = np.random.default_rng(3)
    series = np.r_[rng.normal(10, 1, 30), rng.normal(14, 1, 20)]
    found = e_divisive(series, rng=np.random.default_rng(1))
    assert [c.index for c in found] == [30]
    assert found[0].p_value < 0.05


def test_finds_two_planted_change_points() -> None:
    """Up at 20 and back down at 40: both found, in order."""
    rng = np.random.default_rng(4)
    series = np.r_[rng.normal(10, 1, 20), rng.normal(15, 1, 20), rng.normal(10, 1, 20)]
    found = e_divisive(series, rng=np.random.default_rng(1))
    assert [c.index for c in found] == [20, 40]


def test_none_in_a_flat_noisy_series() -> None:
    """Pure noise has no significant change point."""
    for seed in range(3):
        series = np.random.default_rng(seed).normal(10, 1, 40)
        assert e_divisive(series, rng=np.random.default_rng(1)) == []


def test_a_short_series_cannot_split() -> None:
    """Fewer than two segments of min_size: no change point, no error."""
    assert e_divisive([1.0, 9.0, 1.0], min_size=2) == []
