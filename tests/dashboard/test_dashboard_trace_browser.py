"""A real run's trace, opened in headless Chromium: the Run page's waterfall and the HTML
report's show exactly the spans the run's spans table holds for that trace."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from harness.cli.main import main
from harness.report.html import write_html
from mesh_runtime.runtimes.deployment import load as load_state
from mesh_runtime.runtimes.deployment import saved_deployments
from mesh_runtime.runtimes.local import LocalRuntime
from tests.dashboard.test_dashboard_browser import browser, guard, served, settle
from tests.integration.engine.enginekit import SHOP

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SHORT = {
    "title": "a short run whose traces are drawn",
    "target": {"topology": str(SHOP)},
    "load": {"rps": 20, "warmup": "1s", "duration": "5s", "connections": 4},
}


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One short real run of the shop (local runtime); its run directory."""
    root = tmp_path_factory.mktemp("trace-run")
    experiment = root / "trace-short.yaml"
    experiment.write_text(yaml.safe_dump(SHORT))
    state = root / "state"
    state.mkdir()
    reports = root / "reports"
    try:
        code = main(["run", str(experiment), "--out", str(reports), "--quiet", "--state-dir",
                     str(state)])  # fmt: skip
        assert code == 0
        (run,) = [p for p in reports.iterdir() if p.is_dir()]
        yield run
    finally:
        for path in saved_deployments(state):
            deployment = load_state(path)
            for record in deployment.processes:
                with contextlib.suppress(OSError):
                    os.kill(record.pid, signal.SIGCONT)
            LocalRuntime(state_root=state).down(deployment)


@pytest.fixture(scope="module")
def run_dashboard(real_run: Path) -> Iterator[str]:
    with served(real_run.parent) as url:
        yield url


def _shown(page: Any, trace_id: str) -> dict[str, tuple[str, str, float]]:
    """span id -> (service, operation, duration ms) of the drawn waterfall's span rows."""
    rows = page.locator(f'table.waterfall[data-trace-id="{trace_id}"] tr[data-row="span"]')
    shown: dict[str, tuple[str, str, float]] = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        cells = row.locator("td")
        shown[str(row.get_attribute("data-span-id"))] = (
            cells.nth(0).inner_text().strip(),
            cells.nth(1).inner_text().strip(),
            float(cells.nth(3).inner_text()),
        )
    return shown


def _expected(spans: pd.DataFrame, trace_id: str) -> dict[str, tuple[str, str, float]]:
    mine = spans[spans["trace_id"] == trace_id]
    return {
        str(s.span_id): (str(s.service), str(s.name), round((s.end_ns - s.start_ns) / 1e6, 3))
        for s in mine.itertuples()
    }


def test_the_run_page_draws_a_traces_spans_as_the_table_holds_them(
    browser: Any, run_dashboard: str, real_run: Path, tmp_path: Path,
    eventually: Callable[..., Any],
) -> None:  # fmt: skip
    """/run?run=R&trace=T: one waterfall row per span of T in spans.parquet (service,
    operation, duration), the harness's two rows above them, no exception."""
    spans = pd.read_parquet(real_run / "spans.parquet")
    requests = pd.read_parquet(real_run / "requests.parquet")
    ours = spans[spans["trace_id"].isin(set(requests["trace_id"]))]
    trace_id = str(ours.groupby("trace_id").size().idxmax())
    page = browser.new_page(viewport={"width": 1400, "height": 4000})
    strays = guard(page)
    page.goto(f"{run_dashboard}/run?run={real_run.name}&trace={trace_id}")
    settle(page)
    table = page.locator(f'table.waterfall[data-trace-id="{trace_id}"]')
    eventually(lambda: table.count() == 1, timeout=90)
    table.scroll_into_view_if_needed()
    assert _shown(page, trace_id) == _expected(spans, trace_id)
    assert table.locator('tr[data-row="harness"]').count() == 2
    assert page.locator("[data-testid=stException]").count() == 0
    page.screenshot(path=str(tmp_path / "trace.png"), full_page=True)
    assert strays == []
    page.close()


def test_the_html_report_draws_its_chosen_traces_offline(
    browser: Any, real_run: Path, tmp_path: Path
) -> None:
    """The report's waterfalls (at least the slowest request's) show each trace's spans."""
    spans = pd.read_parquet(real_run / "spans.parquet")
    report = write_html(real_run, tmp_path / "report.html")
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    strays = guard(page)
    page.goto(report.as_uri())
    tables = page.locator("table.waterfall")
    assert tables.count() >= 1
    for i in range(tables.count()):
        trace_id = str(tables.nth(i).get_attribute("data-trace-id"))
        assert _shown(page, trace_id) == _expected(spans, trace_id)
    assert strays == []
    page.close()
