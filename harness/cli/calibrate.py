"""`meshproof calibrate EXPERIMENT --runs N [--history DIR]`: measure how much runs differ.

Runs the experiment N times on this host, one after the other, through the engine as
`meshproof run` does (every run kept in --reports), or, with --history DIR, reads the
newest N complete runs of that experiment in DIR instead of running. Stores, per metric
of a comparison (and the gate's corrected p99), the value of each run, their median and
standard deviation, the spread of the per-window statistic within a run, and the
tolerance they give: the difference two runs of the unchanged experiment stay within
(99 %: Student's t with N - 1 degrees of freedom times the standard deviation times
sqrt 2); with the host's disturbance during those runs (typical and worst).

The file is <reports>/calibration/<experiment>.json (--history DIR: DIR/calibration/
unless --reports is given). `meshproof compare` and `meshproof gate` use its tolerances
for that experiment instead of the built-in defaults, and say so. Needs 3 runs or more.
Exit code 0 when the calibration was written, 2 when it could not be made.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.commands import CALIBRATE_RUNTIMES, add_command, duration_seconds
from mesh_runtime.errors import InvalidInput

if TYPE_CHECKING:
    from rich.console import Console

    from harness.calibrate.model import Calibration
    from harness.store.reader import StoredRun

MIN_RUNS = 3
"""The same as `harness.calibrate.MIN_RUNS` (spelled here: the parser imports no pydantic)."""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "calibrate",
        "run an experiment N times and store its run-to-run spread as compare/gate tolerances",
        __doc__,
    )
    parser.add_argument("experiment", metavar="EXPERIMENT", help="experiment file (or name)")
    parser.add_argument("--runs", type=int, required=True, metavar="N", help="runs (3 or more)")
    parser.add_argument(
        "--history", type=Path, default=None, metavar="DIR", help="use earlier runs in DIR"
    )
    parser.add_argument(
        "--reports", type=Path, default=None, metavar="DIR", help="runs and calibration/ folder"
    )
    parser.add_argument("--duration", default=None, help="scale each run to this length")
    parser.add_argument(
        "--runtime", choices=CALIBRATE_RUNTIMES, default=None, help="override the runtime"
    )
    parser.add_argument(
        "--target",
        type=Path,
        default=None,
        metavar="FILE",
        help="run against this target file (an external mesh) instead of the experiment's target",
    )
    parser.add_argument("--quiet", action="store_true", help="no live progress")
    parser.add_argument("--state-dir", type=Path, default=None, help="meshproof state dir")
    parser.add_argument("--json", action="store_true", help="print the calibration as JSON")
    parser.set_defaults(func=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    from harness.calibrate import write_calibration
    from harness.calibrate.measure import calibration_of
    from harness.cli.console import make_console

    if args.runs < MIN_RUNS:
        raise InvalidInput("--runs", "", f"a calibration needs {MIN_RUNS} runs or more")
    console = make_console(stderr=args.json)
    reports = args.reports or args.history or Path("reports")
    if args.history is not None:
        runs, skipped = _history(args)
        source = "history"
        for line in skipped:
            console.print(f"left out, {line}", style="yellow", markup=False)
    else:
        runs = _run(args, reports, console)
        source = "runs"
    calibration = calibration_of(runs, source)
    path = write_calibration(calibration, reports)
    if args.json:
        print(calibration.model_dump_json(indent=2))
    else:
        show(calibration, console)
    console.print(f"calibration: {path}")
    return 0


def _history(args: argparse.Namespace) -> tuple[list[StoredRun], list[str]]:
    """The runs to calibrate on, and a line per run left out (unreadable, or a copy)."""
    from harness.calibrate.runner import history_runs

    name = Path(args.experiment).stem
    runs, skipped = history_runs(args.history, name, args.runs)
    if len(runs) < MIN_RUNS:
        raise InvalidInput(
            str(args.history),
            "",
            f"{len(runs)} complete runs of {name!r}; a calibration needs {MIN_RUNS} or more",
        )
    return runs, skipped


def _run(args: argparse.Namespace, reports: Path, console: Console) -> list[StoredRun]:
    from harness.calibrate.runner import run_repeatedly
    from harness.engine import ProgressView, RunOptions, RunResult, prepare, progress_view
    from harness.store.reader import StoredRun

    experiment = Path(args.experiment)
    seconds = duration_seconds(args.duration)
    prepare(experiment, seconds, args.target)  # a bad file is one line before anything runs
    options = RunOptions(
        runtime=args.runtime,
        out_dir=reports,
        duration_s=seconds,
        state_root=args.state_dir,
        target=args.target,
    )

    def view_for(index: int) -> ProgressView:
        title = f"calibration run {index}/{args.runs}: {experiment.name}"
        return progress_view(title, console, quiet=args.quiet or args.json)

    def announce(index: int, result: RunResult) -> None:
        p50 = result.record.summary.p50_ms
        shown = "-" if p50 is None else f"{p50:.2f} ms"
        console.print(
            f"run {index}/{args.runs}: {result.record.status}, p50 {shown} -> {result.path}"
        )

    paths = run_repeatedly(experiment, args.runs, options, view_for, announce)
    return [StoredRun(path) for path in paths]


def show(calibration: Calibration, console: Console) -> None:
    """The spreads as a table (plain aligned text outside a terminal), and the host's levels."""
    from harness.cli.tables import show_table

    columns = ("metric", "runs", "median", "sd", "tolerance", "within-run sd")
    rows = [
        [
            metric,
            str(spread.runs),
            f"{spread.median:.4g} {spread.unit}",
            f"{spread.sd:.3g}",
            f"±{spread.tolerance:.3g}",
            "-" if spread.window_sd is None else f"{spread.window_sd:.3g}",
        ]
        for metric, spread in calibration.metrics.items()
    ]
    title = f"{calibration.experiment}: {calibration.describe()}"
    show_table(console, title, columns, rows, right=columns[1:], wrap=("metric",))
    worst = calibration.host_worst
    if worst is None:
        console.print("host disturbance: not recorded by these runs")
    else:
        levels = ", ".join(f"{k} {v:.3g}" for k, v in worst.model_dump().items() if v is not None)
        console.print(f"host disturbance (worst of the runs): {levels}")
