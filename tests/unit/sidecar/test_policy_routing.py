"""Route matching, weighted version splits and endpoint selection."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from pydantic import ValidationError

from mesh_runtime.config import Endpoint, HTTPMatch, HTTPRoute, ServiceEntry, StringMatch
from mesh_runtime.errors import InvalidInput
from mesh_runtime.sidecar.policy.routing import (
    RouteTable,
    choose_subset,
    endpoints_for,
    match_route,
)


def route(data: dict[str, object]) -> HTTPRoute:
    return HTTPRoute.model_validate(data)


ROUTES = [
    route({"name": "exact", "match": [{"uri": {"exact": "/health"}}]}),
    route(
        {"name": "api-post", "match": [{"uri": {"prefix": "/api/"}, "method": {"exact": "POST"}}]}
    ),
    route({"name": "canary", "match": [{"headers": {"X-Canary": {"exact": "yes"}}}]}),
    route({"name": "items", "match": [{"uri": {"regex": r"/items/\d+"}}]}),
    route(
        {
            "name": "either",
            "match": [{"uri": {"prefix": "/alpha"}}, {"headers": {"x-user": {"prefix": "admin"}}}],
        }
    ),
]


def names(table: RouteTable, method: str, path: str, headers: dict[str, str]) -> str | None:
    found = table.match(method, path, headers)
    return found.name if found else None


def test_exact_uri_matches_only_the_same_path() -> None:
    """An exact uri fits the same path and nothing longer."""
    table = RouteTable(ROUTES)
    assert names(table, "GET", "/health", {}) == "exact"
    assert names(table, "GET", "/healthz", {}) is None


def test_uri_is_matched_without_the_query_string() -> None:
    """The query string is ignored for uri matches, as in Envoy."""
    table = RouteTable(ROUTES)
    assert names(table, "GET", "/health?verbose=1", {}) == "exact"


def test_prefix_and_method_must_both_fit() -> None:
    """All conditions of one match entry must hold: prefix and method."""
    table = RouteTable(ROUTES)
    assert names(table, "POST", "/api/orders", {}) == "api-post"
    assert names(table, "GET", "/api/orders", {}) is None


def test_header_match_uses_lower_case_keys() -> None:
    """Header names in the config are matched case-insensitively against lower-case keys."""
    table = RouteTable(ROUTES)
    assert names(table, "GET", "/x", {"x-canary": "yes"}) == "canary"
    assert names(table, "GET", "/x", {"x-canary": "no"}) is None
    assert names(table, "GET", "/x", {}) is None


def test_regex_must_match_the_whole_path() -> None:
    """A regex uri matches the full path, not a substring."""
    table = RouteTable(ROUTES)
    assert names(table, "GET", "/items/42", {}) == "items"
    assert names(table, "GET", "/items/42/reviews", {}) is None


def test_any_match_entry_selects_the_route() -> None:
    """A route with several match entries is chosen when any one of them fits."""
    table = RouteTable(ROUTES)
    assert names(table, "GET", "/alpha/1", {}) == "either"
    assert names(table, "GET", "/zzz", {"x-user": "admin-7"}) == "either"


def test_first_fitting_route_wins_and_empty_match_fits_all() -> None:
    """Routes are tried in order; a route without match entries catches everything."""
    routes = [*ROUTES, route({"name": "default"})]
    table = RouteTable(routes)
    assert names(table, "GET", "/health", {}) == "exact"
    assert names(table, "DELETE", "/anything", {}) == "default"
    assert match_route([route({"name": "default"})], "GET", "/", {}) is not None


def test_no_route_returns_none() -> None:
    """Without a fitting route, match returns None (Envoy's NR)."""
    assert match_route(ROUTES, "GET", "/nothing", {}) is None
    assert match_route([], "GET", "/", {}) is None


def test_invalid_regex_is_rejected_by_the_config_model() -> None:
    """A route with a regex that does not compile does not validate."""
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        route({"match": [{"uri": {"regex": "(unclosed"}}]})


def test_unvalidated_bad_regex_is_one_clear_error_in_the_table() -> None:
    """A bad regex that bypassed validation fails in RouteTable with its field path."""
    bad_uri = StringMatch.model_construct(regex="(unclosed")
    bad = [HTTPRoute.model_construct(match=[HTTPMatch.model_construct(uri=bad_uri)])]
    with pytest.raises(InvalidInput, match=r"http\[0\]\.match\[0\]\.uri: not a valid regular"):
        RouteTable(bad)


def test_choose_subset_without_destinations_means_any_version() -> None:
    """A route without destinations sends to every version."""
    assert choose_subset(route({}), random.Random(1)) is None


def test_choose_subset_single_destination() -> None:
    """A single destination is always chosen."""
    r = route({"route": [{"subset": "v2"}]})
    assert {choose_subset(r, random.Random(i)) for i in range(10)} == {"v2"}


def test_weighted_split_within_binomial_tolerance() -> None:
    """A 90/10 canary split sends about 10 % to v2."""
    r = route({"route": [{"subset": "v1", "weight": 90}, {"subset": "v2", "weight": 10}]})
    rng = random.Random(11)
    trials = 10000
    counts = Counter(choose_subset(r, rng) for _ in range(trials))
    sd = math.sqrt(trials * 0.1 * 0.9)
    assert abs(counts["v2"] - trials * 0.1) <= 5 * sd
    assert counts["v1"] + counts["v2"] == trials


def test_zero_weight_destination_is_never_chosen() -> None:
    """A destination with weight 0 gets no traffic."""
    r = route({"route": [{"subset": "v1", "weight": 100}, {"subset": "v2", "weight": 0}]})
    rng = random.Random(12)
    assert {choose_subset(r, rng) for _ in range(2000)} == {"v1"}


def test_endpoints_for_filters_by_version() -> None:
    """endpoints_for keeps the endpoints of the subset, or all for None."""
    entry = ServiceEntry(
        name="catalog",
        endpoints=[
            Endpoint(instance="catalog-0", version="v1", address="127.0.0.1:1"),
            Endpoint(instance="catalog-1", version="v2", address="127.0.0.1:2"),
        ],
    )
    assert [e.instance for e in endpoints_for(entry, "v2")] == ["catalog-1"]
    assert [e.instance for e in endpoints_for(entry, None)] == ["catalog-0", "catalog-1"]
    assert endpoints_for(entry, "v9") == []
