"""Which route each request takes: a weighted choice, deterministic per request number.

The choice for request `k` depends only on the seed and `k` (a SplitMix64 hash of the
two), not on which worker sends it or in which order the answers come back, so a run's
request mix repeats exactly with the same seed and any number of workers.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from itertools import accumulate

from harness.spec.load import RouteSpec

_MASK64 = (1 << 64) - 1


def splitmix64(value: int) -> int:
    """SplitMix64's output function: a well-mixed 64-bit hash of `value`."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


class RoutePicker:
    """Picks a route index for each request number, with probability proportional to weight."""

    def __init__(self, routes: Sequence[RouteSpec], seed: int) -> None:
        if not routes:
            raise ValueError("at least one route is needed")
        self._cumulative = list(accumulate(r.weight for r in routes))
        self._total = self._cumulative[-1]
        self._seed = splitmix64(seed & _MASK64)

    def pick(self, request: int) -> int:
        """The index of the route request number `request` takes."""
        if len(self._cumulative) == 1:
            return 0
        u = splitmix64(self._seed ^ request) / 2.0**64 * self._total
        return min(bisect.bisect_right(self._cumulative, u), len(self._cumulative) - 1)
