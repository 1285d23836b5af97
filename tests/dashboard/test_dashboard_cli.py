"""`meshproof dashboard` and `meshproof report RUN --html` as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.cli.main import main

MESHPROOF = [sys.executable, "-m", "harness.cli.main"]


def test_dashboard_refuses_a_missing_reports_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reports folder that does not exist is one line on stderr and exit code 2."""
    code = main(["dashboard", "--reports", str(tmp_path / "nowhere"), "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "no such reports directory" in err


def test_report_html_writes_one_self_contained_file(
    run_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report RUN --html OUT` writes a page with the verdicts and plotly inline, nothing linked."""
    out = tmp_path / "out" / "run.html"
    assert main(["report", str(run_dirs["new"]), "--html", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text(encoding="utf-8")
    assert "max_error_rate_1s &lt; 0.02 during:catalog-503" in text
    assert '<td class="FAIL">FAIL</td>' in text
    assert text.count("Plotly.newPlot") >= 5
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|<img[^>]+src=\"http", text)


def test_report_html_defaults_to_the_run_directory(
    run_dirs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without OUT, the HTML report is written as report.html in the run directory."""
    assert main(["report", str(run_dirs["canary"]), "--html"]) == 0
    assert (run_dirs["canary"] / "report.html").stat().st_size > 1_000_000


@pytest.mark.integration
def test_dashboard_serves_and_stops_cleanly_on_ctrl_c(
    reports: Path, eventually: Callable[..., Any]
) -> None:
    """The dashboard prints its 127.0.0.1 address, serves the app, and Ctrl-C leaves nothing running."""
    process = subprocess.Popen(
        [*MESHPROOF, "dashboard", "--reports", str(reports), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
    )
    children: list[psutil.Process] = []
    try:
        assert process.stdout is not None
        line = (
            process.stdout.readline()
        )  # printed once the server answers (bounded by its own 60 s)
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, f"no address in {line!r}"
        with urllib.request.urlopen(f"{match.group(0)}/_stcore/health", timeout=5) as reply:
            assert reply.status == 200
        children = psutil.Process(process.pid).children(recursive=True)
        assert children, "streamlit runs as a child process"
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0
        eventually(lambda: not any(child.is_running() for child in children), timeout=15)
    finally:
        for child in children:  # streamlit runs in its own process group
            if child.is_running():
                child.kill()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
