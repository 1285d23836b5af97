"""The report (dashboard pages, HTML report) on damaged run directories: a damaged kept
view is asked of the table again; a table without a column the report reads is one line
naming it, in place of that section, never a KeyError out of the page."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.report import requests
from harness.report.html import render_html
from harness.report.source import VIEWS
from harness.report.views import keep_request_views
from harness.store import load_run
from mesh_runtime.errors import InvalidInput
from tests.fixtures.make_run import make_run
from tests.unit.report.test_report_views import assert_same, page_views

RESHAPES: dict[str, Callable[[pa.Table], pa.Table]] = {
    "other columns": lambda view: pa.table({"x": [1, 2]}),
    "text for numbers": lambda view: pa.table(
        {name: [str(v) for v in view[name].to_pylist()] for name in view.column_names},
        schema=pa.schema([(name, pa.string()) for name in view.column_names]),
    ),
    "an extra column": lambda view: view.append_column("extra", pa.array([1] * len(view))),
    "an aggregate without its row": lambda view: view.slice(0, 0) if len(view) == 1 else view,
    "a column dropped": lambda view: view.drop_columns(view.column_names[-1]),
}
"""A kept view rewritten as a valid Parquet file of another shape."""


def reshape_views(run: Path, reshape: Callable[[pa.Table], pa.Table]) -> None:
    for kept in (run / VIEWS).iterdir():
        pq.write_table(reshape(pq.read_table(kept)), kept)


@pytest.mark.parametrize("damage", [b"", b"garbage" * 40], ids=["empty", "garbage"])
def test_a_damaged_kept_view_is_asked_of_the_table(tmp_path: Path, damage: bytes) -> None:
    """views/ is a cache: a file in it that cannot be read gives the table's answer (it
    used to fail every section, blaming requests.parquet, which was fine)."""
    run = make_run(tmp_path, rps=50.0)
    live = page_views(run)
    keep_request_views(run, load_run(run))
    for kept in (run / VIEWS).iterdir():
        kept.write_bytes(damage)
    assert_same(page_views(run), live)


def test_a_requests_table_without_a_column_names_it_in_the_html_report(tmp_path: Path) -> None:
    """requests.parquet without corrected_ms: the sections that read it say so, naming
    the file and column; the page is still written (it was a KeyError traceback)."""
    run = make_run(tmp_path, rps=50.0)
    table = pd.read_parquet(run / "requests.parquet").drop(columns=["corrected_ms"])
    table.to_parquet(run / "requests.parquet", index=False)
    page = render_html(run)
    assert f"Not available: {run}/requests.parquet: corrected_ms: no such column" in page


@pytest.mark.parametrize("reshape", RESHAPES.values(), ids=RESHAPES.keys())
def test_a_kept_view_of_another_shape_is_asked_of_the_table(
    tmp_path: Path, reshape: Callable[[pa.Table], pa.Table]
) -> None:
    """A view that reads fine but is not of the shape its query answers (columns by name
    and kind, an aggregate's one row) is ignored like an unreadable one: the Run page's
    views are the table's (it was a KeyError, a ValueError or a quietly wrong table)."""
    run = make_run(tmp_path, rps=50.0)
    live = page_views(run)
    keep_request_views(run, load_run(run))
    reshape_views(run, reshape)
    assert_same(page_views(run), live)
    assert "Not available" not in render_html(run)


def test_a_kept_view_of_another_shape_without_its_table_is_one_line(tmp_path: Path) -> None:
    """With requests.parquet unreadable too, each section says in one line which view was
    ignored and why, and that the table could not answer; the HTML report is written."""
    run = make_run(tmp_path, rps=50.0)
    keep_request_views(run, load_run(run))
    reshape_views(run, RESHAPES["other columns"])
    table = run / "requests.parquet"
    stat = table.stat()
    table.write_bytes(b"x" * stat.st_size)  # the views still match it: same size and time
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(InvalidInput) as caught:
        requests.timeline(run)
    message = str(caught.value)
    assert message.startswith(f"{run / VIEWS}/")
    assert "not its query's answer (second: no such column in the view)" in message
    assert f"asked instead, {table}: cannot read the table" in message
    assert "\n" not in message
    page = render_html(run)
    assert f"Not available: {run / VIEWS}/" in page
