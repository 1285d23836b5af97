"""The dashboard's Run page on one run directory: how long it takes to open.

    python -m harness.bench.run_page RUN_DIR

Streamlit's AppTest runs the app in this process (no browser): the Runs page first, then
the Run page of RUN_DIR is opened and timed, with Streamlit's caches empty (a fresh
process), as a reviewer opening a run for the first time meets it. Prints the seconds;
exit 1 when the page raised.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
TIMEOUT_S = 600.0


def open_run_page(run_dir: Path, timeout_s: float = TIMEOUT_S) -> tuple[AppTest, float]:
    """The app after the Run page of `run_dir` rendered (cold caches), and the seconds
    that took. Reads the reports folder `run_dir` is in (MESHPROOF_REPORTS is set)."""
    from streamlit.testing.v1 import AppTest

    os.environ["MESHPROOF_REPORTS"] = str(run_dir.parent)
    app = AppTest.from_file(str(APP), default_timeout=timeout_s)
    app.run()
    app.query_params["run"] = run_dir.name
    started = time.monotonic()
    app.switch_page("views/run.py").run()
    return app, time.monotonic() - started


def open_seconds(run_dir: Path) -> float:
    """Seconds the Run page of `run_dir` takes to render (cold caches)."""
    from harness.errors import RunError

    app, elapsed = open_run_page(run_dir)
    if app.exception:
        raise RunError(f"the Run page of {run_dir} failed: {app.exception[0].message}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.run_page", description=__doc__.splitlines()[0]
    )
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    from harness.errors import RunError

    try:
        print(f"{open_seconds(args.run_dir):.3f}")
    except RunError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
