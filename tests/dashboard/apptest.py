"""Driving the dashboard with Streamlit's AppTest: the app on a reports folder, a page
opened with its query parameters, and what the page shows (tables, plotly figures)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
TIMEOUT = 120


def dashboard(reports: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The dashboard app, reading the reports folder `reports`."""
    monkeypatch.setenv("MESHPROOF_REPORTS", str(reports))
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def open_page(app: AppTest, page: str, **params: str) -> AppTest:
    """`views/<page>.py` with its query parameters, run without an exception."""
    app.run()
    for key, value in params.items():
        app.query_params[key] = value
    app.switch_page(f"views/{page}.py").run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def frame_with(app: AppTest, column: str) -> Any:
    """The first table on the page that has `column`."""
    for table in app.dataframe:
        if column in table.value.columns:
            return table.value
    raise AssertionError(f"no table with a {column!r} column")


def figures(app: AppTest) -> list[dict[str, Any]]:
    """The page's plotly figures, as JSON."""
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def as_written(markdown: str) -> str:
    """The text a Markdown string escaped by `widgets.plain_markdown` shows."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)
