"""Outlier detection per upstream cluster: Envoy's consecutive-error ejection.

Istio's defaults apply: locally originated errors are not split from the upstream's
answers, so a connect failure, reset or timeout counts as a 5xx (Envoy maps them to
503/504) for `consecutive5xxErrors` and as a gateway error for `consecutiveGatewayErrors`.
Any answer below 500 resets both counters; a 5xx other than 502/503/504 resets only the
gateway counter. An ejection lasts `baseEjectionTime x times ejected`, capped as Envoy's
`max_ejection_time` default does at max(300 s, baseEjectionTime). A host is ejected only
while the ejected share, counting it, stays within `maxEjectionPercent` (so with two hosts
and 50 % one may be ejected). Envoy sweeps every `interval`; checking the ejection's end
time on every look is the same thing, just exact. When every host is ejected the cluster
routes to all of them (panic routing; Istio's minHealthPercent default of 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mesh_runtime.sidecar.meshconfig import OutlierDetection
from mesh_runtime.sidecar.policy.retry import AttemptResult

_GATEWAY_ERRORS = frozenset({502, 503, 504})
_DEFAULT_MAX_EJECTION_S = 300.0


@dataclass(slots=True)
class _HostState:
    consecutive_5xx: int = 0
    consecutive_gateway: int = 0
    ejections: int = 0
    ejected_until: float = 0.0
    """Monotonic time the current ejection ends; in the past when not ejected."""


class OutlierDetector:
    """Ejects hosts of one cluster after consecutive errors; fed results and a clock."""

    __slots__ = ("_hosts", "_latest_until", "_policy")

    def __init__(self, policy: OutlierDetection | None, instances: Iterable[str] = ()) -> None:
        self._policy = policy
        self._hosts: dict[str, _HostState] = {name: _HostState() for name in instances}
        self._latest_until = 0.0
        """The latest end of any ejection: before it nobody can be ejected."""

    @property
    def policy(self) -> OutlierDetection | None:
        return self._policy

    def update(self, policy: OutlierDetection | None) -> None:
        """Apply a new policy, keeping state; removing detection lifts every ejection."""
        self._policy = policy
        if policy is None:
            for state in self._hosts.values():
                state.consecutive_5xx = state.consecutive_gateway = 0
                state.ejected_until = 0.0
            self._latest_until = 0.0

    def set_instances(self, names: Iterable[str]) -> None:
        """The cluster's hosts now; removed ones are forgotten, new ones start clean."""
        wanted = set(names)
        for gone in set(self._hosts) - wanted:
            del self._hosts[gone]
        for name in wanted:
            if name not in self._hosts:
                self._hosts[name] = _HostState()

    def record(self, instance: str, result: AttemptResult, now: float) -> bool:
        """Count one try's result; True when this result ejected the instance."""
        policy = self._policy
        if policy is None:
            return False
        state = self._hosts.get(instance)
        if state is None:
            state = self._hosts[instance] = _HostState()
        status = result.status
        if result.error is None and status is not None and status < 500:
            state.consecutive_5xx = 0
            state.consecutive_gateway = 0
            return False
        state.consecutive_5xx += 1
        if status is None or result.error is not None or status in _GATEWAY_ERRORS:
            state.consecutive_gateway += 1
        else:
            state.consecutive_gateway = 0
        tripped = False
        limit = policy.consecutive5xxErrors
        if limit and state.consecutive_5xx >= limit:
            state.consecutive_5xx = 0
            tripped = True
        limit = policy.consecutiveGatewayErrors
        if limit and state.consecutive_gateway >= limit:
            state.consecutive_gateway = 0
            tripped = True
        return tripped and self._eject(policy, state, now)

    def _eject(self, policy: OutlierDetection, state: _HostState, now: float) -> bool:
        if now < state.ejected_until:
            return False
        ejected_share = 100.0 * (self._ejected_count(now) + 1) / len(self._hosts)
        if ejected_share > policy.maxEjectionPercent:
            return False
        state.ejections += 1
        cap = max(_DEFAULT_MAX_EJECTION_S, policy.baseEjectionTime)
        state.ejected_until = now + min(policy.baseEjectionTime * state.ejections, cap)
        self._latest_until = max(self._latest_until, state.ejected_until)
        return True

    def _ejected_count(self, now: float) -> int:
        if now >= self._latest_until:
            return 0
        return sum(1 for state in self._hosts.values() if now < state.ejected_until)

    def is_ejected(self, instance: str, now: float) -> bool:
        """Whether the instance is ejected at `now`."""
        state = self._hosts.get(instance)
        return state is not None and now < state.ejected_until

    def healthy(self, instances: Sequence[str], now: float) -> list[str]:
        """The instances not ejected; all of them when every one is ejected (panic)."""
        if now >= self._latest_until:
            return list(instances)
        hosts = self._hosts
        chosen = [
            name for name in instances if name not in hosts or now >= hosts[name].ejected_until
        ]
        return chosen if chosen else list(instances)

    def ejected(self, now: float) -> list[str]:
        """The instances ejected at `now`, for the admin API."""
        return [name for name, state in self._hosts.items() if now < state.ejected_until]

    def ejections(self, instance: str) -> int:
        """How many times the instance has been ejected."""
        state = self._hosts.get(instance)
        return state.ejections if state is not None else 0
