"""Routing: which HTTPRoute a request takes, which version it goes to, which endpoints serve it.

Istio's VirtualService semantics: routes are tried in order, the first whose any `match`
fits wins, a route with no `match` fits every request. URIs are matched on the path
without its query string, as Envoy does.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from mesh_runtime.sidecar.meshconfig import Endpoint, HTTPMatch, HTTPRoute, ServiceEntry
from mesh_runtime.sidecar.policy.matching import MatcherCache, StringMatcher, headers_fit


class _CompiledMatch:
    """One HTTPMatch with its StringMatches compiled."""

    __slots__ = ("headers", "method", "uri")

    def __init__(self, match: HTTPMatch, cache: MatcherCache, where: str) -> None:
        self.uri: StringMatcher | None = (
            cache.compile(match.uri, f"{where}.uri") if match.uri is not None else None
        )
        self.method: StringMatcher | None = (
            cache.compile(match.method, f"{where}.method") if match.method is not None else None
        )
        self.headers = cache.compile_headers(match.headers, where)

    def fits(self, method: str, path: str, headers: Mapping[str, str]) -> bool:
        if self.uri is not None and not self.uri.fits(path):
            return False
        if self.method is not None and not self.method.fits(method):
            return False
        return not self.headers or headers_fit(self.headers, headers)


class RouteTable:
    """The routes of one destination service, compiled once per config version."""

    __slots__ = ("_compiled",)

    def __init__(self, routes: Sequence[HTTPRoute]) -> None:
        cache = MatcherCache()
        self._compiled: list[tuple[HTTPRoute, tuple[_CompiledMatch, ...]]] = [
            (
                route,
                tuple(
                    _CompiledMatch(match, cache, f"http[{i}].match[{j}]")
                    for j, match in enumerate(route.match)
                ),
            )
            for i, route in enumerate(routes)
        ]

    def match(self, method: str, path: str, headers: Mapping[str, str]) -> HTTPRoute | None:
        """The first route that fits; None means no route (Envoy's NR)."""
        if "?" in path:
            path = path.partition("?")[0]
        for route, matches in self._compiled:
            if not matches:
                return route
            for match in matches:
                if match.fits(method, path, headers):
                    return route
        return None


def match_route(
    routes: Sequence[HTTPRoute], method: str, path: str, headers: Mapping[str, str]
) -> HTTPRoute | None:
    """One-off route match; build a RouteTable to match many requests."""
    return RouteTable(routes).match(method, path, headers)


def choose_subset(route: HTTPRoute, rng: random.Random) -> str | None:
    """The version this request goes to, by the route's weights; None means any version."""
    destinations = route.route
    if not destinations:
        return None
    if len(destinations) == 1:
        return destinations[0].subset
    total = 0
    for destination in destinations:
        total += destination.weight
    point = rng.random() * total
    for destination in destinations:
        point -= destination.weight
        if point < 0:
            return destination.subset
    return destinations[-1].subset


def endpoints_for(entry: ServiceEntry, subset: str | None) -> list[Endpoint]:
    """The service's endpoints of version `subset` (all of them for None)."""
    if subset is None:
        return list(entry.endpoints)
    return [e for e in entry.endpoints if e.version == subset]
