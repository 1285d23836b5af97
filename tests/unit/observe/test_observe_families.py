"""Whether a target exports a counter family: the questions asked, in order, and the answer."""

from __future__ import annotations

import pytest

from harness.observe.families import family_known, series_count_query

FAMILY = "envoy_cluster_upstream_rq_retry"
SHOP = 'namespace="shop"'


def test_the_series_query_carries_the_targets_matchers_and_window() -> None:
    assert series_count_query(FAMILY, SHOP, 60) == (
        f"count(last_over_time({FAMILY}{{{SHOP}}}[60s]))"
    )
    assert series_count_query(FAMILY, "") == f"count({FAMILY})"


@pytest.mark.parametrize(
    ("targeted_series", "targeted_metadata", "series_elsewhere", "metadata", "known", "asked"),
    [
        (True, False, False, False, True, ["series shop"]),
        (False, True, True, False, True, ["series shop", "metadata shop"]),
        (False, False, True, True, False, ["series shop", "metadata shop", "series any"]),
        (
            False,
            False,
            False,
            True,
            True,
            ["series shop", "metadata shop", "series any", "metadata any"],
        ),
        (
            False,
            False,
            False,
            False,
            False,
            ["series shop", "metadata shop", "series any", "metadata any"],
        ),
    ],
    ids=["target-series", "target-type-only", "only-elsewhere", "metadata-only", "nowhere"],
)
def test_with_matchers_a_family_only_elsewhere_is_not_the_targets(
    targeted_series: bool,
    targeted_metadata: bool,
    series_elsewhere: bool,
    metadata: bool,
    known: bool,
    asked: list[str],
) -> None:
    """Series within the matchers, or the target's own metadata: known; series only outside
    them: unknown; none anywhere: Prometheus's metadata decides. Asked lazily, in order."""
    questions: list[str] = []

    def has_series(query: str) -> bool:
        targeted = SHOP in query
        questions.append("series shop" if targeted else "series any")
        return targeted_series if targeted else targeted_series or series_elsewhere

    def has_metadata(family: str, targeted: bool) -> bool:
        assert family == FAMILY
        questions.append("metadata shop" if targeted else "metadata any")
        return targeted_metadata if targeted else targeted_metadata or metadata

    answer = family_known(FAMILY, SHOP, 60, has_series=has_series, has_metadata=has_metadata)
    assert (answer, questions) == (known, asked)


def test_without_matchers_series_then_metadata_are_asked() -> None:
    """No matchers: one series question, then Prometheus's metadata (as before matchers)."""
    questions: list[str] = []

    def has_series(query: str) -> bool:
        questions.append(query)
        return False

    def has_metadata(family: str, targeted: bool) -> bool:
        questions.append(f"metadata targeted={targeted}")
        return True

    assert family_known(FAMILY, "", None, has_series=has_series, has_metadata=has_metadata)
    assert questions == [f"count({FAMILY})", "metadata targeted=False"]
