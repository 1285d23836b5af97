"""A target's extra label matchers go into every selector of the harness's queries."""

from __future__ import annotations

from harness.observe.prometheus import DEFAULT_QUERIES
from harness.observe.promql import add_matchers

NS = 'namespace="shop"'


def test_bare_and_braced_selectors_get_the_matchers() -> None:
    """A metric with or without braces gets them; label names and functions are untouched."""
    query = (
        'sum by (reporter, destination_service) (rate(istio_requests_total{reporter="source"}[5s]))'
    )
    assert add_matchers(query, NS) == (
        "sum by (reporter, destination_service) "
        '(rate(istio_requests_total{namespace="shop",reporter="source"}[5s]))'
    )
    assert (
        add_matchers("meshproof_retries_total", NS) == 'meshproof_retries_total{namespace="shop"}'
    )
    assert add_matchers("istio_requests_total{}", NS) == 'istio_requests_total{namespace="shop"}'


def test_no_matchers_leave_the_query_alone() -> None:
    """Without matchers every query is what it was."""
    assert [add_matchers(q, "") for q in DEFAULT_QUERIES] == list(DEFAULT_QUERIES)


def test_every_default_query_is_narrowed() -> None:
    """Each default query names the namespace once per metric selector it holds."""
    for query in DEFAULT_QUERIES:
        narrowed = add_matchers(query, NS)
        assert narrowed.count(NS) == query.count("istio_") + query.count("meshproof_")
