"""`meshproof validate FILE`, `meshproof list`, `meshproof report RUN`.

validate  parse the experiment and its topology, check the faults' params and targets and
          that the timeline (or --duration) holds every fault and recovery check; one line
          on success (after a `warning:` line per warning), the one-line error (exit 2)
          otherwise.
list      the runs in the reports directory, oldest first (a table, or JSON).
report    a run's verdicts, headline numbers and phases again (text, or its run.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.commands import add_command

if TYPE_CHECKING:
    from harness.store.model import RunRecord
    from harness.store.reader import RunListing

DEFAULT_REPORTS = "reports"
_STATUS_STYLE = {
    "passed": "green",
    "failed": "red",
    "inconclusive": "yellow",
    "aborted": "yellow",
    "error": "red",
    "running": "cyan",
    "unreadable": "magenta",
}


VALIDATE_HELP = """\
Check an experiment file for all that `run` checks before it deploys anything: the file
and its topology parse, every fault's target exists and its params fit its kind, and
the timeline (scaled by --duration, as run does) holds every fault and recovery check.
Against an external target (`target: {external: FILE}` or --target FILE): its target file
validates, and no fault needs the reference mesh or a namespace outside its list.
Deploys nothing. One `ok:` line on success (after a `warning:` line per warning);
otherwise one line naming the file, the field and the problem, exit code 2.
"""

LIST_HELP = """\
List the runs in the reports folder, oldest first: status, the RPS achieved (the intended
rate beside it when they differ), whether the load kept its schedule, duration and SLOs
passed. Only run directories are listed (a folder holding run.json); comparisons and
calibrations are not runs. Without a terminal every column is printed whole.
"""

REPORT_HELP = """\
Print one run again: its status, a line per SLO verdict, the whole run's headline
numbers and a row per phase (and a loud line when the load fell behind its schedule).
RUN is a run directory, a run id, a unique id prefix, or 'latest' (the newest run).
--json prints its run.json; --html writes one self-contained HTML report.
"""


def register(subparsers: Any) -> None:
    validate = add_command(
        subparsers,
        "validate",
        "check an experiment file and its topology without running it",
        VALIDATE_HELP,
    )
    validate.add_argument("file", metavar="FILE", help="experiment file (YAML)")
    validate.add_argument(
        "--duration", default=None, help="check the timeline scaled to this length, as run does"
    )
    validate.add_argument(
        "--target",
        type=Path,
        default=None,
        metavar="FILE",
        help="check it against this target file (an external mesh), as `run --target` does",
    )
    validate.set_defaults(func=run_validate)

    listing = add_command(subparsers, "list", "list past runs", LIST_HELP)
    listing.add_argument("--reports", default=DEFAULT_REPORTS, metavar="DIR")
    listing.add_argument("--experiment", metavar="NAME", help="only runs of this experiment")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_list)

    report = add_command(
        subparsers, "report", "print a run's verdicts and summary again", REPORT_HELP
    )
    report.add_argument("run", metavar="RUN", help="run directory, run id, id prefix or 'latest'")
    report.add_argument("--reports", default=DEFAULT_REPORTS, metavar="DIR")
    report.add_argument("--json", action="store_true", help="print the run's run.json")
    report.add_argument(
        "--html", nargs="?", const="", metavar="OUT",
        help="write one self-contained HTML report (default: <run>/report.html)",
    )  # fmt: skip
    report.set_defaults(func=run_report)


def run_validate(args: argparse.Namespace) -> int:
    from harness.cli.commands import duration_seconds
    from harness.spec.check import check_experiment, describe

    duration_s = duration_seconds(args.duration)
    checked = check_experiment(args.file, duration_s, args.target)
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(describe(checked, duration_s))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from harness.cli.console import make_console
    from harness.cli.tables import show_table
    from harness.store.reader import list_runs

    runs = list_runs(Path(args.reports), args.experiment)
    if args.json:
        print(json.dumps([_listing_json(run) for run in runs], indent=2))
        return 0
    console = make_console()
    if not runs:
        of = f" of experiment {args.experiment}" if args.experiment else ""
        console.print(f"no runs{of} in {args.reports}")
        return 0
    columns = ["run", "status", "RPS", "load", "duration", "SLOs passed"]
    notes = any(run.problem or run.shares_id_with or run.note for run in runs)
    rows = [_listing_row(run) + ([_listing_note(run)] if notes else []) for run in runs]
    show_table(
        console,
        f"runs in {args.reports}",
        [*columns, *(["note"] if notes else [])],
        rows,
        right=("RPS", "duration"),
        wrap=("note",),
    )
    return 0


def _listing_row(run: RunListing) -> list[str]:
    """run, status, RPS (achieved; intended beside it), load (on time / BEHIND), duration, SLOs."""
    from harness.report.text import load_text, rate_text, slo_tally, tally_text
    from harness.store.reader import shown
    from mesh_runtime.units import format_duration

    style = _STATUS_STYLE.get(run.status, "")
    load = load_text(run.late_share, run.max_send_lag_ms)
    folder = shown(run.path.name)
    return [
        run.id if folder == run.id else f"{run.id} ({folder})",
        f"[{style}]{run.status}[/]" if style else run.status,
        "-" if run.rps is None else rate_text(run.rps, run.target_rps),
        f"[bold red]{load}[/]" if load.startswith("BEHIND") else load,
        "-" if run.duration_s is None else format_duration(round(run.duration_s)),
        tally_text(
            slo_tally(
                run.status,
                run.passed,
                run.passed + run.failed + run.inconclusive,
                run.inconclusive,
                run.unjudged,
                run.declared,
            )
        ),
    ]


def _listing_note(run: RunListing) -> str:
    """Why a run is not read, what its status does not say (its harness died, or runs on
    another host), or which other folders hold its id (name the folder then)."""
    if run.problem or not (run.shares_id_with or run.note):
        return run.problem
    shared = f"id also in {', '.join(run.shares_id_with)}: name the folder"
    return "; ".join(note for note in (run.note, shared if run.shares_id_with else "") if note)


def _listing_json(run: RunListing) -> dict[str, Any]:
    data = asdict(run)
    data["path"] = str(run.path)
    del data["deployment"]  # the gate's and calibrate's filter key, not a column of the list
    return data


def run_report(args: argparse.Namespace) -> int:
    from harness.store.liveness import run_state
    from harness.store.reader import load_run, resolve_run

    path = resolve_run(args.run, Path(args.reports))
    record = load_run(path)
    state = run_state(record)
    record = state.applied(record)  # a run whose harness is gone is not running
    if args.json:
        print(json.dumps(record.model_dump(mode="json"), indent=2))
        return 0
    if args.html is not None:
        from harness.report.html import write_html

        print(write_html(path, Path(args.html) if args.html else path / "report.html"))
        return 0
    print_report(record, path, "" if state.died else state.note)
    return 0


def print_report(record: RunRecord, path: Path, note: str = "") -> None:
    """The run as a terminal reader wants it: status, verdicts, numbers, phases; `note`
    says what its status does not (a run of another host cannot be checked from here)."""
    from harness.cli.console import make_console
    from harness.cli.tables import show_table
    from harness.report.text import (
        HEADLINE_COLUMNS,
        PHASE_COLUMNS,
        VERDICT_STYLE,
        behind_line,
        headline_rows,
        phase_rows,
        run_notes,
        verdict_line,
    )

    console = make_console()
    style = _STATUS_STYLE.get(record.status, "")
    console.print(f"[bold]{record.experiment.title or record.experiment.name}[/]")
    console.print(f"run {record.id}: [{style}]{record.status.upper()}[/]  ({path})")
    if record.error:
        console.print(f"[{style}]{record.error}[/]")
    if note:
        console.print(note, style="yellow", markup=False)
    for said in run_notes(record):
        console.print(said, style="yellow", markup=False)
    behind = behind_line(record)
    if behind:
        console.print(behind, style="bold red", markup=False)
    for verdict in record.verdicts:
        unjudged = record.unjudged(verdict)
        colour = "yellow" if unjudged else VERDICT_STYLE[verdict.outcome]
        console.print(f"  {verdict_line(verdict, unjudged)}", style=colour, markup=False)
    show_table(console, "whole run", HEADLINE_COLUMNS, headline_rows(record), right=("value",))
    show_table(console, "phases", PHASE_COLUMNS, phase_rows(record), wrap=("load",))
