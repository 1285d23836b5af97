"""`meshproof dashboard [--reports DIR] [--port N]`: serve the Streamlit dashboard on 127.0.0.1.

Streamlit runs as a child process in its own process group; the command prints the
address once the server answers its health check, and Ctrl-C (or SIGTERM, SIGHUP) stops
the whole group: SIGTERM first, SIGKILL if it has not gone within a few seconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from harness.cli.commands import add_command
from harness.errors import RunError
from mesh_runtime.errors import InvalidInput

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
DEFAULT_PORT = 8501
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "dashboard", "serve the Streamlit dashboard of the runs on 127.0.0.1", __doc__
    )
    parser.add_argument("--reports", default="reports", metavar="DIR", help="runs folder")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, metavar="N", help="port (0: any free port)"
    )
    parser.set_defaults(func=run_dashboard)


def streamlit_command(app: Path, reports: Path, port: int, python: str) -> list[str]:
    """The command line that serves `app` on 127.0.0.1:`port` for the runs in `reports`."""
    return [
        python, "-m", "streamlit", "run", str(app),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--theme.base", "light",
        "--",
        "--reports", str(reports),
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_args(reports: Path, port: int) -> None:
    if not reports.is_dir():
        raise InvalidInput(str(reports), "", "no such reports directory (--reports DIR)")
    if not 0 <= port <= 65535:
        raise InvalidInput("--port", "", f"expected a port number 0-65535, got {port}")
    if not APP.is_file():
        raise RunError(f"{APP}: the dashboard app is missing (is meshproof installed from source?)")


def run_dashboard(args: argparse.Namespace) -> int:
    reports = Path(args.reports).resolve()
    check_args(reports, args.port)
    port = args.port or free_port()
    command = streamlit_command(APP, reports, port, sys.executable)
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL)
    # Ctrl-C, a kill and a closed terminal all stop the dashboard; SIGINT is set explicitly
    # because a shell's background job inherits it ignored.
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, _interrupt) for sig in stops}
    try:
        _wait_ready(process, url)
        print(f"meshproof dashboard: {url}  (runs in {reports}; Ctrl-C stops it)", flush=True)
        code = process.wait()
        if code != 0:
            raise RunError(f"streamlit exited with code {code}")
        return 0
    except KeyboardInterrupt:
        print("meshproof dashboard: stopping", file=sys.stderr, flush=True)
        return 0
    finally:
        stop(process)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _wait_ready(process: subprocess.Popen[bytes], url: str) -> None:
    import urllib.error  # with http.client and email: only when the dashboard starts
    import urllib.request

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RunError(f"streamlit exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RunError(f"streamlit did not answer on {url} within {READY_TIMEOUT_S:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the dashboard's process group, then SIGKILL what is left after a grace period."""
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
