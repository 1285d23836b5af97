"""The dashboard served for real and the HTML report, opened in headless Chromium (Debian's).

Playwright drives /usr/bin/chromium; it never downloads a browser. Without Chromium the
tests skip, except in CI (`CI=true`) where a missing browser is a failure. Every page is
screenshotted into the test's tmp folder. The browser may talk to 127.0.0.1 only: any
other request is aborted and fails the test.

One Chromium serves the whole module: the synthetic reports' pages and the HTML report,
then a real run's trace (the Run page's waterfall and the HTML report's show exactly the
spans the run's spans table holds for that trace).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest
import yaml

from harness.cli.dashboard import free_port
from harness.cli.main import main
from harness.report.html import write_html
from mesh_runtime.runtimes.deployment import load as load_state
from mesh_runtime.runtimes.deployment import saved_deployments
from mesh_runtime.runtimes.local import LocalRuntime
from tests.integration.engine.enginekit import SHOP

CHROMIUM = Path("/usr/bin/chromium")
PAGES = {
    # page path -> (query, heading, least charts, least tables)
    "": ("", "Runs", 0, 1),
    "run": ("?run=20261126T020000Z-catalog-503", "One catalog replica answers 503 for 10 s", 5, 6),
    "compare": (
        "?baseline=20261125T020000Z-catalog-503&candidate=20261126T020000Z-catalog-503",
        "Compare", 3, 3,
    ),
    "trends": ("?experiment=catalog-503", "Trends", 8, 1),
}  # fmt: skip

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright, or a skip (a failure in CI) without it."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; CI must have Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is not installed")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def serve(reports: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "harness.cli.main", "dashboard", "--reports", str(reports)]
    process = subprocess.Popen(
        [*command, "--port", str(port)], start_new_session=True, stdout=subprocess.DEVNULL
    )
    return process, f"http://127.0.0.1:{port}"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes], children: list[psutil.Process]) -> None:
    """Stop the command as a user would (SIGTERM), then kill whatever of it is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    for child in children:  # streamlit runs in a process group of its own
        if child.is_running():
            child.kill()


@contextlib.contextmanager
def served(reports: Path) -> Iterator[str]:
    """`meshproof dashboard` on an ephemeral port; its whole process group is killed after."""
    from tests.conftest import poll

    process, url = serve(reports)
    children: list[psutil.Process] = []
    try:
        poll(lambda: answers(url) or process.poll() is not None, timeout=90, interval=0.3)
        assert process.poll() is None, "meshproof dashboard exited early"
        children = psutil.Process(process.pid).children(recursive=True)
        yield url
    finally:
        stop(process, children)


@pytest.fixture(scope="module")
def dashboard(reports: Path) -> Iterator[str]:
    with served(reports) as url:
        yield url


def guard(page: Any) -> list[str]:
    """Abort and record every request the page makes to anything but loopback or a file."""
    strays: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "file:", "data:", "blob:")):
            request_route.continue_()
        else:
            strays.append(url)
            request_route.abort()

    page.route("**/*", route)
    return strays


def settle(page: Any) -> None:
    """Wait until Streamlit has finished running the page script."""
    page.wait_for_selector("h1", timeout=90_000)
    page.wait_for_function(
        "!document.querySelector('[data-testid=stStatusWidget]')", timeout=90_000
    )


def unfold(page: Any) -> None:
    """Make the viewport as tall as the page: Streamlit scrolls inside its main block and
    draws charts only once they are in view."""
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(int(height), 8000)})


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_renders_its_title_charts_and_tables(
    browser: Any, dashboard: str, path: str, tmp_path: Path, eventually: Callable[..., Any]
) -> None:
    """Each page shows its heading, its plotly charts and tables, and no exception box."""
    query, heading, charts, tables = PAGES[path]
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    strays = guard(page)
    page.goto(f"{dashboard}/{path}{query}")
    settle(page)
    assert page.locator("h1").first.inner_text() == heading
    unfold(page)
    eventually(lambda: page.locator(".js-plotly-plot .main-svg").count() >= charts, timeout=60)
    eventually(lambda: page.locator("[data-testid=stDataFrame]").count() >= tables, timeout=60)
    assert page.locator("[data-testid=stException]").count() == 0
    assert page.get_by_text("Failed to fetch dynamically imported module").count() == 0
    page.screenshot(path=str(tmp_path / f"{path or 'runs'}.png"), full_page=True)
    assert (tmp_path / f"{path or 'runs'}.png").stat().st_size > 10_000
    assert strays == []
    page.close()


def test_html_report_renders_offline(
    browser: Any, run_dirs: dict[str, Path], tmp_path: Path, eventually: Callable[..., Any]
) -> None:
    """The HTML report opens from a file with no network: verdicts, tables and every chart drawn."""
    report = write_html(run_dirs["new"], tmp_path / "report.html")
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    strays = guard(page)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report.as_uri())
    eventually(lambda: page.locator(".js-plotly-plot .main-svg").count() >= 5, timeout=60)
    assert page.locator("h1").inner_text() == "One catalog replica answers 503 for 10 s"
    assert page.locator("td.FAIL").first.inner_text() == "FAIL"
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert strays == [] and errors == []
    page.close()


SHORT = {
    "title": "a short run whose traces are drawn",
    "target": {"topology": str(SHOP)},
    "load": {"rps": 20, "warmup": "1s", "duration": "5s", "connections": 4},
}


# A real run's traces, drawn


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
