"""`meshproof run EXPERIMENT` and `meshproof demo`.

`run` carries out one experiment file: deploy, observe, load with the fault timeline,
analyse, judge, write `reports/<UTC time>-<experiment>/`, tear down. Exit code 0 when every
SLO passed, 1 when one failed, 2 when the run could not be done (bad file, deploy failure,
interrupted), 3 when none failed but the host was too noisy to judge one (inconclusive;
`--retry-inconclusive N` runs it again, up to N times, keeping every run). `demo` runs the retry-masks-503 experiment in 30 s and prints its report.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.commands import RUN_RUNTIMES, add_command, duration_seconds
from mesh_runtime.errors import InvalidInput

if TYPE_CHECKING:
    from rich.console import Console

    from harness.engine import RunOptions, RunResult
    from mesh_runtime.runtimes.deployment import KubernetesPlacement

EXPERIMENTS_DIR = Path(__file__).resolve().parents[2] / "experiments"
DEMO_EXPERIMENT = "retry-masks-503.yaml"
DEMO_DURATION = "30s"
HEADLINE = ("rps", "error_rate", "p50_ms", "p99_ms", "corrected_p99_ms", "trace_completeness")


RUN_HELP = """\
Carry out one experiment file: deploy its topology, start Prometheus, the resource sampler
and the trace sink, run the open-loop load with the fault timeline, analyse, judge the
SLOs, write reports/<UTC time>-<experiment>/ (run.json, Parquet tables, report.md,
junit.xml) and tear the deployment down (unless --keep).

Against an external target (the experiment's `target: {external: FILE}`, or --target FILE,
which overrides the experiment's target) nothing is deployed or torn down: the load goes to
the target's ingress, metrics come from its Prometheus, and only the faults change anything.
--dry-run checks the file and prints each fault with every Kubernetes API call it would
make (reads, the patch at the read resourceVersion, the rollback's read and write), and
makes none.

While it runs: a live panel in a terminal; without one (a CI log) a line at each phase
change and every 10 s, saying loudly when the load falls behind its schedule; with
--quiet nothing. At the end, always: a line per SLO verdict, the status, the report folder.

Exit code 0 when every SLO passed, 1 when one failed, 2 when the run could not be done
(a bad file, the topology already up, a deploy failure, an interruption), 3 when none
failed but the host was too noisy to judge one: the disturbance probe's scheduling lag
could explain the latency's distance from its threshold (INCONCLUSIVE; see
experiments/README.md). --retry-inconclusive N runs it again, up to N times, while it is
inconclusive; every run keeps its own report folder, and the exit code is the last run's.
"""

DEMO_HELP = f"""\
Run experiments/{DEMO_EXPERIMENT} (one catalog replica answers 503; do the sidecars'
retries hide it from users?) scaled to {DEMO_DURATION} on the local runtime, then print its
headline numbers, a line per SLO verdict and what to look at next.
"""


def register(subparsers: Any) -> None:
    _register_run(subparsers)
    _register_demo(subparsers)


def _register_run(subparsers: Any) -> None:
    run_parser = add_command(
        subparsers, "run", "run an experiment: deploy, load, faults, verdicts, report", RUN_HELP
    )
    run_parser.add_argument("experiment", help="experiment file, e.g. experiments/baseline.yaml")
    _common(run_parser)
    run_parser.add_argument(
        "--target",
        type=Path,
        default=None,
        metavar="FILE",
        help="run against this target file (a mesh meshproof did not deploy: nothing is"
        " deployed or torn down) instead of the experiment's target",
    )
    run_parser.add_argument(
        "--otlp-forward",
        type=_otlp_url,
        default=None,
        metavar="URL",
        help="also send every span the run collects to this OTLP/HTTP endpoint (Jaeger, Tempo,"
        " a Collector), marked with the resource attribute meshproof.run.id; in the background,"
        " never slowing the run (spans it cannot take are dropped and counted in run.json)",
    )
    run_parser.add_argument(
        "--load-master-bind",
        default=None,
        metavar="ADDR[:PORT]",
        help="the Locust master listens here (default 127.0.0.1, a port the OS picks; an"
        " address without a port: 5557) for workers of other machines (meshproof load-worker"
        " --master ADDR:PORT)",
    )
    run_parser.add_argument(
        "--load-local-workers",
        type=int,
        default=None,
        metavar="N",
        help="of load.workers, how many to start on this machine (default: all with the"
        " master on 127.0.0.1, none with --load-master-bind); the others connect from elsewhere",
    )
    run_parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the experiment and print its faults in timeline order, each with every"
        " Kubernetes API call it would make; deploy, send and change nothing",
    )
    run_parser.add_argument(
        "--retry-inconclusive",
        type=_retries,
        default=0,
        metavar="N",
        help="run it again, up to N times, while the host is too noisy to judge (exit 3);"
        " every run is kept; the exit code is the last run's",
    )
    run_parser.set_defaults(func=run_command)


def _register_demo(subparsers: Any) -> None:
    demo = add_command(
        subparsers,
        "demo",
        f"a 30-second chaos experiment ({DEMO_EXPERIMENT}) with its report",
        DEMO_HELP,
    )
    _common(demo, with_duration=False)
    demo.set_defaults(func=demo_command)


def _common(parser: argparse.ArgumentParser, with_duration: bool = True) -> None:
    parser.add_argument(
        "--runtime", choices=RUN_RUNTIMES, default=None, help="override target.runtime"
    )
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="--runtime kubernetes: the cluster (run it on a node: the harness reaches the"
        " mesh at its Services' ClusterIPs)",
    )
    parser.add_argument("--context", help="kubeconfig context (default: its current one)")
    parser.add_argument(
        "--namespace", default="default", help="--runtime kubernetes: its namespace (must exist)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("reports"), help="reports folder (default: reports)"
    )
    if with_duration:
        parser.add_argument(
            "--duration",
            default=None,
            help="scale the whole timeline (warm-up, load, faults) to this length, e.g. 30s",
        )
    parser.add_argument("--keep", action="store_true", help="leave the deployment up afterwards")
    parser.add_argument("--quiet", action="store_true", help="print only the final lines")
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="meshproof state dir (default .meshproof)"
    )


def _options(args: argparse.Namespace, duration: str | None) -> RunOptions:
    from harness.engine import RunOptions

    bind = getattr(args, "load_master_bind", None)
    master: dict[str, Any] = {}
    if bind is not None:
        from harness.load.transport import bind_address

        try:
            address, port = bind_address(bind)
        except ValueError as exc:
            raise InvalidInput("--load-master-bind", "", str(exc)) from exc
        master = {"load_master_bind": address, "load_master_port": port}
    local = getattr(args, "load_local_workers", None)
    if local is not None and local < 0:
        raise InvalidInput("--load-local-workers", "", f"{local} is fewer than 0")
    return RunOptions(
        runtime=args.runtime,
        kubernetes=_placement(args),
        out_dir=args.out,
        duration_s=duration_seconds(duration),
        keep=args.keep,
        state_root=args.state_dir,
        target=getattr(args, "target", None),
        otlp_forward=getattr(args, "otlp_forward", None),
        load_local_workers=local,
        **master,
    )


def _placement(args: argparse.Namespace) -> KubernetesPlacement | None:
    """--kubeconfig's cluster; --runtime kubernetes needs it, another --runtime refuses it
    (an experiment's `target.runtime: kubernetes` is checked against it by the runner)."""
    from harness.cli.deploy import placement_of

    if args.runtime not in (None, "kubernetes"):
        if args.kubeconfig:
            raise InvalidInput("--kubeconfig", "", "needs --runtime kubernetes")
        return None
    if not args.kubeconfig:
        if args.runtime == "kubernetes":
            raise InvalidInput("--runtime", "", "kubernetes needs --kubeconfig FILE")
        return None
    return placement_of(args)


def run_command(args: argparse.Namespace) -> int:
    from harness.cli.console import make_console

    console = make_console()
    if args.dry_run:
        return dry_run(args, console)
    options = _options(args, args.duration)

    def run_once() -> RunResult:
        result = _run(Path(args.experiment), options, args.quiet, console)
        print_final_lines(result, console)
        return result

    def again(done: int) -> None:
        console.print(
            f"INCONCLUSIVE: the host was too noisy to judge; running it again"
            f" ({done} of {args.retry_inconclusive})",
            style="yellow",
        )

    results = repeat_while_inconclusive(run_once, args.retry_inconclusive, again)
    if len(results) > 1:
        console.print(f"{len(results)} runs, each kept:", markup=False)
        for result in results:
            console.print(f"  {result.record.status.upper()} {result.path}", markup=False)
    return results[-1].exit_code


def repeat_while_inconclusive(
    run_once: Callable[[], RunResult], retries: int, again: Callable[[int], None]
) -> list[RunResult]:
    """Run once, then again (up to `retries` more times) while the run is inconclusive;
    every result, in order. `again(n)` is told before the n-th repetition."""
    results = [run_once()]
    while results[-1].record.status == "inconclusive" and len(results) <= retries:
        again(len(results))
        results.append(run_once())
    return results


def _otlp_url(text: str) -> str:
    """--otlp-forward: an http(s) URL; a bare base URL gets /v1/traces."""
    from mesh_runtime.otlp import BadForwardUrl, forward_url

    try:
        return forward_url(text)
    except BadForwardUrl as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _retries(text: str) -> int:
    """--retry-inconclusive: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def demo_command(args: argparse.Namespace) -> int:
    from harness.cli.console import make_console

    console = make_console()
    options = _options(args, DEMO_DURATION)
    result = _run(EXPERIMENTS_DIR / DEMO_EXPERIMENT, options, args.quiet, console)
    print_report(result, console)
    print_final_lines(result, console)
    print_next_steps(result, console)
    return result.exit_code


def dry_run(args: argparse.Namespace, console: Console) -> int:
    """`run --dry-run`: the checked experiment's fault plan; nothing is deployed, no API
    call is made (not even a read: an object found by a search is written `<it>`)."""
    import sys

    from harness.faults.kube_plan import faults_plan
    from harness.spec.check import check_experiment, describe

    checked = check_experiment(
        Path(args.experiment), duration_seconds(args.duration), args.target, args.runtime
    )
    external = checked.external
    where = f"topology {checked.topology.name}"
    namespaces: list[str] = []
    if external is not None:
        where = f"external target {external.name} ({external.mesh} mesh)"
        namespaces = list(external.kubernetes.namespaces) if external.kubernetes else []
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    console.print(f"dry run, {describe(checked)}, against {where}:", markup=False)
    runtime = args.runtime or checked.experiment.target.runtime
    on_kubernetes = external is None and runtime == "kubernetes"
    if on_kubernetes:
        namespaces = [args.namespace]
    lines = faults_plan(checked.experiment.faults, namespaces, on_kubernetes) or ["no faults"]
    for line in lines:
        console.print(line, markup=False)
    console.print("nothing was deployed, sent or changed", markup=False)
    return 0


def _run(path: Path, options: RunOptions, quiet: bool, console: Console) -> RunResult:
    from harness.engine import progress_view, run_experiment

    view = progress_view(f"meshproof run {path.name}", console, quiet)
    return run_experiment(path, options, view)


def print_report(result: RunResult, console: Console) -> None:
    """The headline numbers of the run (its verdicts are in the final lines)."""
    from harness.report.text import format_value, rate_text

    record = result.record
    summary = record.summary.model_dump()
    numbers = ", ".join(
        f"{m} {rate_text(summary.get(m), summary.get('target_rps'))}"
        if m == "rps"
        else f"{m} {format_value(m, summary.get(m))}"
        for m in HEADLINE
    )
    console.print(f"{record.experiment.title}", style="bold", markup=False)
    console.print(f"{summary.get('requests', 0)} requests measured: {numbers}", markup=False)


def print_next_steps(result: RunResult, console: Console) -> None:
    """The demo's last lines: where to look next, and why 'sent' is more than 'measured'."""
    record = result.record
    warmup = next((p for p in record.phases if p.name == "warmup"), None)
    console.print("next: meshproof report latest --html   one self-contained HTML report of it")
    console.print("      meshproof dashboard              every run, in the browser")
    if warmup is None:
        return
    seconds = warmup.end_s - warmup.start_s
    phase = record.phase_summary("warmup")
    rate = phase.values.get("rps") if phase else None
    about = f" (about {rate * seconds:.0f} requests)" if rate else ""
    console.print(
        f"'sent' in the live view counts every request, the first {seconds:.3g} s of warm-up "
        f"too{about}; 'requests measured' are those after the warm-up, which the SLOs judge."
    )


def print_final_lines(result: RunResult, console: Console) -> None:
    """Always printed, also with --quiet: notes, a line per verdict, whether the load fell
    behind, the status and the report folder."""
    from harness.report.text import (
        METRICS_NONE,
        VERDICT_STYLE,
        behind_line,
        metrics_read,
        record_tally,
        tally_text,
        verdict_line,
    )

    record = result.record
    for warning in result.warnings:
        console.print(f"warning: {warning}", markup=False)
    for note in result.notes:
        console.print(f"note: {note}")
    for verdict in record.verdicts:  # one line each, passed or not, also with --quiet
        unjudged = record.unjudged(verdict)
        style = "yellow" if unjudged else VERDICT_STYLE[verdict.outcome]
        console.print(verdict_line(verdict, unjudged), style=style, markup=False)
    behind = behind_line(record)
    if behind:
        console.print(behind, style="bold red", markup=False)
    status = record.status.upper()
    reason = f" ({record.error})" if record.error else ""
    source = f"metrics from {record.metrics_source}" if metrics_read(record) else METRICS_NONE
    tally = tally_text(record_tally(record), "SLOs passed")
    console.print(f"{status}{reason}: {tally}; {source}")
    console.print(f"report: {result.path}")
