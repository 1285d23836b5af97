"""The report (dashboard pages, HTML report) on damaged run directories: a damaged kept
view is asked of the table again; a table without a column the report reads is one line
naming it, in place of that section, never a KeyError out of the page."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.report.html import render_html
from harness.report.source import VIEWS
from harness.report.views import keep_request_views
from harness.store import load_run
from tests.fixtures.make_run import make_run
from tests.unit.report.test_report_views import assert_same, page_views


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
