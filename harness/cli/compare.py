"""`meshproof compare BASELINE CANDIDATE` and `meshproof validate-upgrade EXPERIMENT`.

compare           judge a candidate run against a baseline run of the same experiment, as
                  Kayenta does: latency on time windows (Mann-Whitney U with a
                  Hodges-Lehmann band on the 1 s windows' medians, or Welch's t on their
                  mean where the windows correlate too much for ranks: a `method:` line
                  says so; block-bootstrap bands on p50/p99), never on every request as an
                  independent draw; a two-proportion test on error rate; per metric High /
                  Low / Pass / NoData, a score 0-100 and Pass / Marginal / Fail.
validate-upgrade  run the experiment with the baseline and the candidate sidecar, A B A B
                  for --rounds rounds, and compare the pooled rounds (windows of every round).

A change fails only when significant AND beyond its tolerance: the one in --config, else
the run-to-run spread stored by `meshproof calibrate` (<reports>/calibration/
<experiment>.json beside the baseline run, or --calibration FILE), else a built-in default
that holds on a quiet 2-core host. The report says which, per metric.

Writes compare.md, junit.xml and compare.json to --out (default
<reports>/comparisons/<baseline>-vs-<candidate>/). Exit code 0 Pass, 1 Marginal or
Fail (--marginal-exit 0 lets Marginal pass), 2 input that cannot be compared, 3
Inconclusive: a latency change the two hosts' disturbance could explain decides the
verdict (experiments/README.md, "Judged against the host").

Either refusing its input (exit 2: a run compared with itself, an unreadable or aborted
run, a bad --config, a sidecar profile or a round that could not be run) still writes
junit.xml there, for CI test reports: one testcase `compare` (`validate-upgrade`) with an
<error> whose message is the line printed, and removes the compare.md and compare.json
of an earlier call from there. Without --out, compare needs both runs' folders (an
unreadable run's id is its folder's name), validate-upgrade each side's first run; else
nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.commands import (
    add_calibration_options,
    add_command,
    command_help,
    duration_seconds,
)
from harness.exits import FAILED, INCONCLUSIVE, PASSED

if TYPE_CHECKING:
    from rich.console import Console

    from harness.cli.refusal import Refused
    from harness.compare.model import ComparisonResult
    from harness.engine import ProgressView, RunResult

DEFAULT_REPORTS = Path("reports")
REPO = Path(__file__).resolve().parents[2]


def register(subparsers: Any) -> None:
    compare = add_command(
        subparsers,
        "compare",
        "judge a candidate run against a baseline run (Pass / Marginal / Fail)",
        command_help(__doc__ or "", "compare"),
    )
    compare.add_argument(
        "baseline", metavar="BASELINE", help="run directory, id, prefix or 'latest'"
    )
    compare.add_argument(
        "candidate", metavar="CANDIDATE", help="run directory, id, prefix or 'latest'"
    )
    _output_options(compare)
    compare.set_defaults(func=run_compare)

    upgrade = add_command(
        subparsers,
        "validate-upgrade",
        "run an experiment with two sidecars, interleaved, and compare them",
        command_help(__doc__ or "", "validate-upgrade"),
    )
    upgrade.add_argument("experiment", metavar="EXPERIMENT", help="experiment file")
    for side in ("baseline", "candidate"):
        upgrade.add_argument(
            f"--{side}-sidecar",
            required=True,
            metavar="PROFILE",
            help="'current', 'git:<ref>' (checked out in a git worktree) or 'path:<dir>'",
        )
        upgrade.add_argument(
            f"--{side}-sidecar-args",
            default="",
            metavar="FLAGS",
            help=f"extra sidecar flags, e.g. --{side}-sidecar-args='--no-tracing'",
        )
    upgrade.add_argument("--rounds", type=int, default=2, help="A/B rounds (default 2)")
    upgrade.add_argument("--duration", default=None, help="scale each run to this length")
    upgrade.add_argument("--quiet", action="store_true", help="no live progress")
    upgrade.add_argument("--state-dir", type=Path, default=None, help="meshproof state dir")
    upgrade.add_argument("--repo", type=Path, default=REPO, help="git repository for git: refs")
    _output_options(upgrade)
    upgrade.set_defaults(func=run_validate_upgrade)


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reports", type=Path, default=DEFAULT_REPORTS, metavar="DIR")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE", help="YAML rules")
    add_calibration_options(
        parser, "<reports>/calibration/<experiment>.json beside the baseline run"
    )
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="report folder")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--marginal-exit", type=int, choices=(0, 1), default=1, help="exit code of Marginal"
    )


def exit_code_of(result: ComparisonResult, marginal_exit: int) -> int:
    """0 Pass, 1 Fail, `marginal_exit` Marginal, 3 Inconclusive."""
    codes = {
        "Pass": PASSED,
        "Marginal": marginal_exit,
        "Fail": FAILED,
        "Inconclusive": INCONCLUSIVE,
    }
    return codes[result.verdict]


def default_out(reports: Path, result: ComparisonResult) -> Path:
    """The comparison's folder, named by each side's first run."""
    return comparison_folder(reports, result.baseline_runs[0], result.candidate_runs[0])


def comparison_folder(reports: Path, baseline: str, candidate: str) -> Path:
    """`reports/comparisons/<baseline>-vs-<candidate>/`: beside the runs, never taken for one."""
    from harness.store.reader import COMPARISONS_DIR

    return reports / COMPARISONS_DIR / f"{baseline}-vs-{candidate}"


def report(result: ComparisonResult, args: argparse.Namespace, console: Console) -> int:
    """Print (table or JSON), write the files, and return the exit code."""
    from harness.cli.tables import show_table
    from harness.compare.output import (
        VERDICT_STYLE,
        headline,
        method_lines,
        right_columns,
        table_rows,
        tolerance_line,
        write_outputs,
    )

    out = args.out or default_out(args.reports, result)
    write_outputs(result, out)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        title, columns, rows = table_rows(result)
        show_table(console, title, columns, rows, right=right_columns(columns), wrap=("metric",))
        style = VERDICT_STYLE[result.verdict]
        console.print(f"[bold {style}]{headline(result)}[/]")
        for note in result.notes:
            console.print(f"note: {note}")
        for line in method_lines(result):
            console.print(f"method: {line}", markup=False, highlight=False)
        console.print(tolerance_line(result))
        console.print(f"report: {out}")
    return exit_code_of(result, args.marginal_exit)


def calibration_choice(args: argparse.Namespace) -> Any:
    """What compare_runs gets: a loaded --calibration, None (--no-calibration) or 'find'."""
    if args.no_calibration:
        return None
    if args.calibration is not None:
        from harness.calibrate import load_calibration

        return load_calibration(args.calibration)
    return "find"


def run_compare(args: argparse.Namespace) -> int:
    """The comparison; a refusal (exit 2) also leaves a junit.xml saying why, then goes on up."""
    from harness.cli.refusal import refusing
    from harness.compare.output import REPORT_FILES

    return refusing(
        "compare", REPORT_FILES, lambda: _compare(args), lambda: _compare_refused_at(args)
    )


def _compare_refused_at(args: argparse.Namespace) -> Refused:
    """The experiment (else BASELINE vs CANDIDATE) and --out, else the default folder when
    both runs' folders are there (an unreadable run's id is its folder's name)."""
    from harness.cli.refusal import experiment_of, run_dir_or_none, run_id

    base = run_dir_or_none(args.baseline, args.reports)
    cand = run_dir_or_none(args.candidate, args.reports)
    named = f"{args.baseline} vs {args.candidate}"
    subject = experiment_of(base) or experiment_of(cand) or named
    if args.out is None and base and cand:
        return subject, comparison_folder(args.reports, run_id(base), run_id(cand))
    return subject, args.out


def _compare(args: argparse.Namespace) -> int:
    from harness.cli.console import make_console
    from harness.compare.compare import compare_runs
    from harness.compare.config import load_compare_config
    from harness.store.reader import resolve_run

    config = load_compare_config(args.config)
    baseline = resolve_run(args.baseline, args.reports)
    candidate = resolve_run(args.candidate, args.reports)
    result = compare_runs(baseline, candidate, config, calibration_choice(args))
    return report(result, args, make_console())


def run_validate_upgrade(args: argparse.Namespace) -> int:
    """The upgrade validation; a refusal (exit 2) also leaves a junit.xml saying why (in
    --out, else the comparison's folder once each side has run), then goes on up."""
    from harness.cli.refusal import refusing
    from harness.compare.output import REPORT_FILES

    first: dict[str, Path] = {}  # each side's first run, as announced: it names the folder

    def refused_at() -> Refused:
        folder = args.out
        if folder is None and len(first) == 2:
            from harness.cli.refusal import run_id

            ids = (run_id(first["baseline"]), run_id(first["candidate"]))
            folder = comparison_folder(args.reports, *ids)
        return Path(args.experiment).stem, folder  # a run's experiment is its file's stem

    return refusing(
        "validate-upgrade", REPORT_FILES, lambda: _validate_upgrade(args, first), refused_at
    )


def _validate_upgrade(args: argparse.Namespace, first: dict[str, Path]) -> int:
    from harness.cli.console import make_console
    from harness.compare.config import load_compare_config
    from harness.engine import RunOptions, prepare, progress_view
    from harness.upgrade import judge_rounds, parse_profile, prepared, run_rounds

    config = load_compare_config(args.config)
    calibration = calibration_choice(args)  # a broken file fails before any round runs
    specs = {
        side: parse_profile(
            getattr(args, f"{side}_sidecar"),
            getattr(args, f"{side}_sidecar_args"),
            f"--{side}-sidecar",
        )
        for side in ("baseline", "candidate")
    }
    seconds = duration_seconds(args.duration)
    experiment = Path(args.experiment)
    prepare(experiment, seconds)  # a bad experiment file fails before any run or worktree
    options = RunOptions(out_dir=args.reports, duration_s=seconds, state_root=args.state_dir)
    console = make_console(stderr=args.json)

    def view_for(side: str, index: int) -> ProgressView:
        title = f"round {index}/{args.rounds} {side}: {experiment.name}"
        return progress_view(title, console, quiet=args.quiet or args.json)

    def announce(side: str, index: int, result: RunResult) -> None:
        first.setdefault(side, result.path)
        sidecar = result.record.environment.sidecar_version
        console.print(f"round {index} {side} ({sidecar}): {result.record.status} -> {result.path}")

    with (
        prepared(specs["baseline"], args.repo) as base,
        prepared(specs["candidate"], args.repo) as cand,
    ):
        profiles = {"baseline": base, "candidate": cand}
        runs = run_rounds(experiment, profiles, args.rounds, options, view_for, announce)
    result = judge_rounds(runs, config, calibration)
    return report(result, args, console)
