"""E-divisive means: change points in a series (Matteson & James 2014). Pure.

The divergence between the values before and after a split `tau` of `z_0..z_{T-1}` is the
energy statistic

    E(X, Y) = 2/(nm) sum|x_i - y_j|^a - C(n,2)^-1 sum_{i<k}|x_i - x_k|^a
              - C(m,2)^-1 sum_{j<k}|y_j - y_k|^a,       Q(tau) = nm/(n+m) E(X, Y)

(`a` in (0, 2), 1 by default; a sum over no pairs is 0). The best split maximises Q. Its
significance is a permutation test: the segment's values shuffled (seeded, `permutations`
times), p = (1 + #{max Q of a shuffle >= Q}) / (permutations + 1). Splitting is
hierarchical: while the best split of any segment is significant, it becomes a change
point and both halves are searched again, as MongoDB's signal processing and Apache Otava
(hunter) do. Each evaluation is O(T^2) with 2-D prefix sums of the distance matrix.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChangePoint:
    index: int
    """The first value of the new segment."""
    q: float
    p_value: float


def _prefix(values: np.ndarray, power: float) -> np.ndarray:
    distances = np.abs(np.subtract.outer(values, values)) ** power
    prefix = np.zeros((len(values) + 1, len(values) + 1))
    prefix[1:, 1:] = distances.cumsum(axis=0).cumsum(axis=1)
    return prefix


def _block(prefix: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> float:
    return float(prefix[r1, c1] - prefix[r0, c1] - prefix[r1, c0] + prefix[r0, c0])


def q_statistics(values: np.ndarray, min_size: int, power: float = 1.0) -> np.ndarray:
    """Q(tau) for every split tau (NaN where a side would be shorter than `min_size`)."""
    total = len(values)
    out = np.full(total, np.nan)
    prefix = _prefix(values, power)
    for tau in range(min_size, total - min_size + 1):
        n, m = tau, total - tau
        between = _block(prefix, 0, tau, tau, total)
        within_left = _block(prefix, 0, tau, 0, tau) / 2
        within_right = _block(prefix, tau, total, tau, total) / 2
        energy = 2 * between / (n * m)
        energy -= within_left / (n * (n - 1) / 2) if n > 1 else 0.0
        energy -= within_right / (m * (m - 1) / 2) if m > 1 else 0.0
        out[tau] = n * m / (n + m) * energy
    return out


def best_split(values: np.ndarray, min_size: int, power: float = 1.0) -> tuple[int, float] | None:
    """(tau, Q) of the best split, or None when the series is too short to split."""
    if len(values) < 2 * min_size:
        return None
    q = q_statistics(values, min_size, power)
    tau = int(np.nanargmax(q))
    return tau, float(q[tau])


def permutation_p(
    values: np.ndarray,
    observed: float,
    min_size: int,
    permutations: int,
    rng: np.random.Generator,
    power: float = 1.0,
) -> float:
    """Share of shuffles whose best split is at least as strong as `observed`."""
    exceed = 0
    for _ in range(permutations):
        found = best_split(rng.permutation(values), min_size, power)
        if found is not None and found[1] >= observed - 1e-12:
            exceed += 1
    return (1 + exceed) / (permutations + 1)


def e_divisive(
    series: list[float] | np.ndarray,
    *,
    alpha: float = 0.05,
    min_size: int = 2,
    permutations: int = 199,
    max_change_points: int = 10,
    rng: np.random.Generator | None = None,
    power: float = 1.0,
) -> list[ChangePoint]:
    """The significant change points of `series`, by index, in order."""
    values = np.asarray(series, dtype="float64")
    rng = rng or np.random.default_rng(0)
    bounds = [0, len(values)]
    found: list[ChangePoint] = []
    while len(found) < max_change_points:
        candidates = []
        for start, end in itertools.pairwise(bounds):
            split = best_split(values[start:end], min_size, power)
            if split is not None:
                candidates.append((split[1], start + split[0], start, end))
        if not candidates:
            break
        q, index, start, end = max(candidates)
        p_value = permutation_p(values[start:end], q, min_size, permutations, rng, power)
        if p_value >= alpha:
            break
        found.append(ChangePoint(index, q, p_value))
        bounds = sorted([*bounds, index])
    return sorted(found, key=lambda c: c.index)
