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
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.spec.experiment import Experiment, load_experiment
from harness.spec.faults import TrafficSplitFault
from harness.store.model import RunRecord
from harness.store.reader import RunListing, list_runs, load_run, resolve_run
from harness.store.text import (
    HEADLINE_COLUMNS,
    PHASE_COLUMNS,
    headline_rows,
    phase_rows,
    verdict_line,
)
from mesh_runtime.errors import ExperimentError
from mesh_runtime.topology import Topology, load_topology
from mesh_runtime.units import format_duration

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
    experiment, topology_path = load_experiment(args.file)
    topology = load_topology(topology_path)
    check_targets(experiment, topology, str(args.file))
    duration = format_duration(experiment.load.total_duration)
    print(
        f"ok: {experiment.title} ({len(experiment.faults)} faults, "
        f"{len(experiment.slos)} SLOs, {duration})"
    )
    return 0


def check_targets(experiment: Experiment, topology: Topology, source: str) -> None:
    """Every fault's target names a part of the topology; ExperimentError otherwise."""
    for index, fault in enumerate(experiment.faults):
        problem = target_problem(fault.kind, fault.target, topology)
        if problem:
            raise ExperimentError(source, f"faults[{index}].target", problem)
        if isinstance(fault, TrafficSplitFault):
            versions = [v.name for v in topology.services[fault.target].versions]
            unknown = sorted(set(fault.params) - set(versions))
            if unknown:
                raise ExperimentError(
                    source,
                    f"faults[{index}].params",
                    f"{fault.target} has no version {unknown[0]!r} (versions: {', '.join(versions)})",
                )


def target_problem(kind: str, target: str, topology: Topology) -> str:
    """Why `target` cannot be faulted with `kind` in `topology`, or '' if it can."""
    services = set(topology.services)
    instances = {i.name for i in topology.instances()}
    if kind in ("toxic", "proxy_down"):
        source, _, destination = target.partition("->")
        proxied = {e.name for e in topology.proxied_edges()}
        service = destination if destination in services else destination.rpartition("-")[0]
        if f"{source}->{service}" not in proxied:
            return f"edge {source}->{service} does not go through Toxiproxy (toxiproxy.edges)"
        if destination not in services and destination not in instances:
            return f"no instance {destination!r} in topology {topology.name}"
        return ""
    if kind in ("process_kill", "process_pause", "process_restart") and ":" in target:
        target = target.partition(":")[2]
    if kind in ("rolling_restart",) and target == "sidecars":
        return ""
    if kind == "control_plane_outage" or target == "control-plane":
        return ""
    if kind == "traffic_split":
        return "" if target in services else f"no service {target!r} in topology {topology.name}"
    if target in services or target in instances:
        return ""
    return f"no service or instance {target!r} in topology {topology.name}"


def run_list(args: argparse.Namespace) -> int:
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
    return _rich_table("whole run", HEADLINE_COLUMNS, headline_rows(record), right=("value",))


def _phases_table(record: RunRecord) -> Table:
    return _rich_table("phases", PHASE_COLUMNS, phase_rows(record))


def _rich_table(
    title: str, columns: tuple[str, ...], rows: list[list[str]], right: tuple[str, ...] = ()
) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        table.add_row(*row)
    return table
