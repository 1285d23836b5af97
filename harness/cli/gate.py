"""`meshproof gate RUN`: the nightly CI gate of one run.

Fails when one of the run's SLOs failed, or when a headline metric (p50, p99, corrected
p99, error rate, trace completeness, sidecar CPU per 1000 RPS and memory, retries) regressed
against the earlier runs of the same experiment in --history: an E-divisive means change
point in the last --window runs, or the run itself an outlier against the runs since the
last change, beyond a minimum magnitude: the experiment's stored calibration
(`meshproof calibrate`; <history>/calibration/<experiment>.json or --calibration FILE)
when there is one, else built-in defaults. Writes gate.md, junit.xml and gate.json to --out
(default: <run>/gate/). Exit code 0 pass, 1 fail, 2 a run that cannot be gated,
3 inconclusive: nothing failed, but the host was too noisy to judge an SLO or a latency
regression.

A run that cannot be gated (no run.json, an aborted or unreadable run, a bad option,
calibration or history) still writes junit.xml there, for CI test reports: one testcase
`gate` with an <error> whose message is the line printed, and removes the gate.md and
gate.json of an earlier gate from there. When RUN names no folder and there is no --out,
nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.commands import add_calibration_options, add_command
from mesh_runtime.errors import InvalidInput

if TYPE_CHECKING:
    from harness.cli.refusal import Refused
    from harness.gate.regression import GateSettings

DEFAULT_REPORTS = Path("reports")
STATUS_STYLE = {
    "regression": "red",
    "improvement": "green",
    "ok": "green",
    "nodata": "magenta",
    "inconclusive": "yellow",
}


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "gate", "CI gate: the run's SLOs and regressions against its history", __doc__
    )
    parser.add_argument("run", metavar="RUN", help="run directory, id, prefix or 'latest'")
    parser.add_argument("--reports", type=Path, default=DEFAULT_REPORTS, metavar="DIR")
    parser.add_argument(
        "--history",
        type=Path,
        default=None,
        metavar="DIR",
        help="earlier runs (default: the run's folder)",
    )
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="report folder")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level")
    parser.add_argument("--min-history", type=int, default=3, help="earlier runs needed")
    parser.add_argument("--window", type=int, default=3, help="fail on change points this recent")
    parser.add_argument("--max-history", type=int, default=30, help="earlier runs considered")
    add_calibration_options(parser, "<history>/calibration/<experiment>.json")
    parser.set_defaults(func=run_gate)


def run_gate(args: argparse.Namespace) -> int:
    """The gate; a refusal (exit 2) also leaves a junit.xml saying why, then goes on up."""
    from harness.cli.refusal import refusing
    from harness.gate.output import REPORT_FILES

    return refusing("gate", REPORT_FILES, lambda: _gate(args), lambda: _refused_at(args))


def _refused_at(args: argparse.Namespace) -> Refused:
    """The experiment (else the run's folder name, else RUN) and the report folder."""
    from harness.cli.refusal import experiment_of, run_dir_or_none

    run_dir = run_dir_or_none(args.run, args.reports)
    subject = experiment_of(run_dir) or (run_dir.name if run_dir else args.run)
    return subject, args.out or (run_dir / "gate" if run_dir else None)


def _gate(args: argparse.Namespace) -> int:
    from harness.cli.console import make_console
    from harness.cli.tables import show_table
    from harness.gate.gate import gate_run
    from harness.gate.output import (
        HISTORY_COLUMNS,
        headline,
        history_rows,
        skipped_lines,
        tolerance_line,
        write_outputs,
    )
    from harness.store.reader import resolve_run

    settings = gate_settings(args)
    run_dir = resolve_run(args.run, args.reports)
    calibration: Any = "find"
    if args.no_calibration:
        calibration = None
    elif args.calibration is not None:
        from harness.calibrate import load_calibration

        calibration = load_calibration(args.calibration)
    result = gate_run(run_dir, args.history, settings, args.max_history, calibration)
    out = args.out or run_dir / "gate"
    write_outputs(result, out)
    if args.json:
        print(result.model_dump_json(indent=2))
        return result.exit_code
    console = make_console()
    if result.history_judged:  # else the headline says, in one line, why there is no table
        title = f"{result.run} against {len(result.history)} earlier runs"
        rows = history_rows(result, STATUS_STYLE)
        show_table(console, title, HISTORY_COLUMNS, rows, wrap=("since",))
    for line in skipped_lines(result):
        console.print(line, style="yellow", markup=False)
    for line in result.failures:
        console.print(f"[red]{line}[/]")
    if result.history_judged:
        console.print(tolerance_line(result))
    style = {"pass": "green", "fail": "red", "inconclusive": "yellow"}[result.outcome]
    console.print(f"[bold {style}]{headline(result)}[/]")
    console.print(f"report: {out}")
    return result.exit_code


def gate_settings(args: argparse.Namespace) -> GateSettings:
    """The gate's settings from its options; a value that would gate nothing (or a
    --history folder that is not there: no run would be judged against it) is one
    InvalidInput naming the option."""
    from harness.gate.regression import GateSettings

    if not 0 < args.alpha < 1:  # also false for nan
        raise InvalidInput("--alpha", "", f"expected a level between 0 and 1, got {args.alpha}")
    for option, value, least in (
        ("--min-history", args.min_history, 0),
        ("--window", args.window, 1),
        ("--max-history", args.max_history, 1),
    ):
        if value < least:
            raise InvalidInput(option, "", f"expected a number of runs >= {least}, got {value}")
    if args.history is not None and not args.history.is_dir():
        raise InvalidInput("--history", "", f"no such folder: {args.history}")
    return GateSettings(alpha=args.alpha, min_history=args.min_history, window=args.window)
