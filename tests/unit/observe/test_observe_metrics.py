"""Long-form metric rows from Prometheus query results and from scraped exposition text."""

from __future__ import annotations

import itertools
import json

from harness.observe.builtin_scraper import parse_samples
from harness.observe.prometheus import MAX_POINTS, chunks, result_rows
from harness.observe.rows import frame

EXPOSITION = """\
# HELP istio_requests_total Requests.
# TYPE istio_requests_total counter
istio_requests_total{reporter="source",destination_service="catalog",response_code="200"} 42.0
# HELP meshproof_outlier_ejections_total Ejections.
# TYPE meshproof_outlier_ejections_total counter
meshproof_outlier_ejections_total{destination_service="catalog",instance="catalog-1"} 3.0
# HELP meshproof_uptime_seconds Not wanted.
# TYPE meshproof_uptime_seconds gauge
meshproof_uptime_seconds 12.0
"""


def test_result_rows_are_long_form_relative_to_t0() -> None:
    """Each value of each series becomes a row: t_s from t0, the query, labels as JSON."""
    result = [
        {
            "metric": {"__name__": "x", "destination_service": "catalog"},
            "values": [[1000.0, "1.5"], [1001.0, "2"]],
        }
    ]
    rows = result_rows("rate(x[5s])", result, t0=990.0)
    assert rows == [
        {
            "t_s": 10.0,
            "metric": "rate(x[5s])",
            "labels": '{"destination_service": "catalog"}',
            "value": 1.5,
        },
        {
            "t_s": 11.0,
            "metric": "rate(x[5s])",
            "labels": '{"destination_service": "catalog"}',
            "value": 2.0,
        },
    ]


def test_nan_values_are_dropped() -> None:
    """histogram_quantile's NaN (no traffic in the window) is not a measurement."""
    result = [{"metric": {}, "values": [[1.0, "NaN"], [2.0, "+Inf"], [3.0, "4"]]}]
    assert [r["value"] for r in result_rows("q", result, t0=0.0)] == [4.0]


def test_long_ranges_are_split_under_the_point_limit() -> None:
    """A range longer than MAX_POINTS steps is queried in pieces that cover it exactly."""
    pieces = chunks(0.0, 25_000.0, 1.0)
    assert pieces[0] == (0.0, MAX_POINTS - 1.0)
    assert pieces[-1][1] == 25_000.0
    assert all(hi - lo < MAX_POINTS for lo, hi in pieces)
    assert all(b[0] == a[1] + 1.0 for a, b in itertools.pairwise(pieces))


def test_scraped_samples_are_labelled_as_prometheus_would() -> None:
    """Wanted samples get the target's labels; a colliding sample label becomes exported_*."""
    target = {"job": "meshproof-sidecars", "instance": "frontend-0"}
    rows = parse_samples(EXPOSITION, target, t_s=3.0)
    assert [r["metric"] for r in rows] == [
        "istio_requests_total",
        "meshproof_outlier_ejections_total",
    ]
    ejections = json.loads(rows[1]["labels"])
    assert ejections["instance"] == "frontend-0"
    assert ejections["exported_instance"] == "catalog-1"
    assert rows[0]["value"] == 42.0 and rows[0]["t_s"] == 3.0


def test_garbage_exposition_gives_no_rows() -> None:
    """Text that is not the exposition format yields no rows rather than an exception."""
    assert parse_samples("this is { not metrics", {}, t_s=0.0) == []


def test_frame_is_sorted_and_typed_even_when_empty() -> None:
    """The metrics table has its four columns, sorted by time, also with no rows."""
    assert list(frame([]).columns) == ["t_s", "metric", "labels", "value"]
    table = frame(
        [
            {"t_s": 2.0, "metric": "m", "labels": "{}", "value": 1.0},
            {"t_s": 1.0, "metric": "m", "labels": "{}", "value": 0.0},
        ]
    )
    assert table["t_s"].tolist() == [1.0, 2.0]
