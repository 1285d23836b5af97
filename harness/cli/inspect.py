"""`meshproof validate FILE`, `meshproof list`, `meshproof report RUN`.

validate  parse the experiment and its topology, check the faults' targets against the
          topology; one line on success, the one-line error (exit 2) otherwise.
list      the runs in the reports directory, oldest first (a table, or JSON).
report    a run's verdicts, headline numbers and phases again (text, or its run.json).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from harness.store.model import RunRecord
    from harness.store.reader import RunListing

DEFAULT_REPORTS = "reports"
_STATUS_STYLE = {
    "passed": "green",
    "failed": "red",
    "aborted": "yellow",
    "error": "red",
    "running": "cyan",
    "unreadable": "magenta",
}


def register(subparsers: Any) -> None:
    validate = subparsers.add_parser(
        "validate", help="check an experiment file and its topology without running it"
    )
    validate.add_argument("file", metavar="FILE", help="experiment file (YAML)")
    validate.set_defaults(func=run_validate)

    listing = subparsers.add_parser("list", help="list past runs")
    listing.add_argument("--reports", default=DEFAULT_REPORTS, metavar="DIR")
    listing.add_argument("--experiment", metavar="NAME", help="only runs of this experiment")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_list)

    report = subparsers.add_parser("report", help="print a run's verdicts and summary again")
    report.add_argument("run", metavar="RUN", help="run directory, run id, id prefix or 'latest'")
    report.add_argument("--reports", default=DEFAULT_REPORTS, metavar="DIR")
    report.add_argument("--json", action="store_true", help="print the run's run.json")
    report.add_argument(
        "--html", nargs="?", const="", metavar="OUT",
        help="write one self-contained HTML report (default: <run>/report.html)",
    )  # fmt: skip
    report.set_defaults(func=run_report)


def run_validate(args: argparse.Namespace) -> int:
    from harness.spec.experiment import load_experiment
    from harness.spec.targets import check_targets
    from mesh_runtime.topology import load_topology
    from mesh_runtime.units import format_duration

    experiment, topology_path = load_experiment(args.file)
    topology = load_topology(topology_path)
    check_targets(experiment, topology, str(args.file))
    duration = format_duration(experiment.load.total_duration)
    print(
        f"ok: {experiment.title} ({len(experiment.faults)} faults, "
        f"{len(experiment.slos)} SLOs, {duration})"
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness.store.reader import list_runs
    from mesh_runtime.units import format_duration

    runs = list_runs(Path(args.reports), args.experiment)
    if args.json:
        print(json.dumps([_listing_json(run) for run in runs], indent=2))
        return 0
    console = Console(highlight=False)
    if not runs:
        console.print(f"no runs in {args.reports}")
        return 0
    table = Table(title=f"runs in {args.reports}")
    table.add_column("run", no_wrap=True)
    for column in ("status", "duration", "SLOs passed"):
        table.add_column(column, no_wrap=True)
    notes = any(run.problem for run in runs)
    if notes:
        table.add_column("note")
    for run in runs:
        style = _STATUS_STYLE.get(run.status, "")
        cells = [
            run.id,
            f"[{style}]{run.status}[/]" if style else run.status,
            "-" if run.duration_s is None else format_duration(round(run.duration_s)),
            f"{run.passed}/{run.passed + run.failed}",
        ]
        table.add_row(*cells, *([run.problem] if notes else []))
    console.print(table)
    return 0


def _listing_json(run: RunListing) -> dict[str, Any]:
    data = asdict(run)
    data["path"] = str(run.path)
    return data


def run_report(args: argparse.Namespace) -> int:
    from harness.store.reader import load_run, resolve_run

    path = resolve_run(args.run, Path(args.reports))
    record = load_run(path)
    if args.json:
        print(json.dumps(record.model_dump(mode="json"), indent=2))
        return 0
    if args.html is not None:
        from harness.report.html import write_html

        print(write_html(path, Path(args.html) if args.html else path / "report.html"))
        return 0
    print_report(record, path)
    return 0


def print_report(record: RunRecord, path: Path) -> None:
    """The run as a terminal reader wants it: status, verdicts, numbers, phases."""
    from rich.console import Console

    from harness.store.text import verdict_line

    console = Console(highlight=False)
    style = _STATUS_STYLE.get(record.status, "")
    console.print(f"[bold]{record.experiment.title or record.experiment.name}[/]")
    console.print(f"run {record.id}: [{style}]{record.status.upper()}[/]  ({path})")
    if record.error:
        console.print(f"[{style}]{record.error}[/]")
    for verdict in record.verdicts:
        colour = "green" if verdict.passed else "red"
        console.print(f"  [{colour}]{verdict_line(verdict)}[/]", soft_wrap=True)
    console.print(_summary_table(record))
    console.print(_phases_table(record))


def _summary_table(record: RunRecord) -> Table:
    from harness.store.text import HEADLINE_COLUMNS, headline_rows

    return _rich_table("whole run", HEADLINE_COLUMNS, headline_rows(record), right=("value",))


def _phases_table(record: RunRecord) -> Table:
    from harness.store.text import PHASE_COLUMNS, phase_rows

    return _rich_table("phases", PHASE_COLUMNS, phase_rows(record))


def _rich_table(
    title: str, columns: tuple[str, ...], rows: list[list[str]], right: tuple[str, ...] = ()
) -> Table:
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        table.add_row(*row)
    return table
