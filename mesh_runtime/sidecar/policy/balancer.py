"""Load balancing: which healthy instance gets the next request.

Candidates are instance names in a stable order (the endpoint order of the config);
`active` holds requests in flight per instance. Each balancer is per upstream cluster
and keeps only its own small state.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Protocol

from mesh_runtime.sidecar.meshconfig import LoadBalancer


class Balancer(Protocol):
    """Chooses one of the candidates, or None when there are none."""

    def pick(self, candidates: Sequence[str], active: Mapping[str, int]) -> str | None: ...


class RoundRobin:
    """Envoy's ROUND_ROBIN, kept stable when the candidate list changes.

    It remembers the last instance it chose and continues with the one after it, so an
    ejection or a new replica neither restarts the rotation at the first host nor
    sends two requests in a row to the same host.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: str | None = None

    def pick(self, candidates: Sequence[str], active: Mapping[str, int]) -> str | None:
        count = len(candidates)
        if count == 0:
            return None
        last = self._last
        if count == 1 or last is None:
            chosen = candidates[0]
        else:
            try:
                chosen = candidates[(candidates.index(last) + 1) % count]
            except ValueError:
                chosen = _next_after(candidates, last)
        self._last = chosen
        return chosen


def _next_after(candidates: Sequence[str], last: str) -> str:
    """The first candidate that sorts after `last`, wrapping round to the smallest."""
    after = [c for c in candidates if c > last]
    return min(after) if after else min(candidates)


class LeastRequest:
    """Envoy's LEAST_REQUEST: the less busy of two distinct random candidates (P2C)."""

    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def pick(self, candidates: Sequence[str], active: Mapping[str, int]) -> str | None:
        count = len(candidates)
        if count == 0:
            return None
        if count == 1:
            return candidates[0]
        rand = self._rng.random
        first = int(rand() * count)
        second = int(rand() * (count - 1))
        if second >= first:
            second += 1
        a, b = candidates[first], candidates[second]
        return b if active.get(b, 0) < active.get(a, 0) else a


class RandomPick:
    """Envoy's RANDOM: every candidate equally likely."""

    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def pick(self, candidates: Sequence[str], active: Mapping[str, int]) -> str | None:
        if not candidates:
            return None
        return candidates[int(self._rng.random() * len(candidates))]


def make_balancer(lb: LoadBalancer, rng: random.Random) -> Balancer:
    """The balancer a DestinationRule's `loadBalancer.simple` names."""
    if lb.simple == "LEAST_REQUEST":
        return LeastRequest(rng)
    if lb.simple == "RANDOM":
        return RandomPick(rng)
    return RoundRobin()
