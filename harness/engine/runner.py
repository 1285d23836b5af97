"""The orchestrator: deploy -> observe -> load + fault timeline -> analyse -> judge -> write.

`run_experiment(path, options, view)` carries out one experiment file and returns its
`RunResult` (record, run directory, exit code: 0 every SLO passed, 1 one failed, 2 the run
could not be done). `run.json` is written at once with status `running`. Whatever
happens after that (an error, SIGINT, SIGTERM), the run's faults are rolled back, what
was measured is analysed and written (status `aborted` or `error`), and the deployment
is torn down unless `keep`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness.engine.environment import target_ref
from harness.engine.interrupts import InterruptGuard, RunInterrupted, late_signal_note
from harness.engine.options import RunOptions
from harness.engine.outcome import RunOutcome
from harness.engine.progress import ProgressView
from harness.engine.session import Session
from harness.engine.timeline import scale_experiment
from harness.judge import exit_code
from harness.spec.check import check_experiment
from harness.spec.experiment import Experiment
from harness.spec.lint import SpecWarning
from harness.store import ExperimentRef, RunRecord, RunWriter, TargetRef, iso_utc
from harness.store.liveness import this_harness
from mesh_runtime.errors import InvalidInput, MeshproofError
from mesh_runtime.runtimes.registry import EXTERNAL, deployed_topology, make_runtime
from mesh_runtime.target import TargetFile, load_target


@dataclass(frozen=True)
class RunResult:
    record: RunRecord
    path: Path
    exit_code: int
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What `meshproof validate` warns about the experiment (printed before the verdicts)."""


@dataclass(frozen=True)
class Prepared:
    """An experiment ready to run: validated, and scaled with `--duration`."""

    experiment: Experiment
    topology: Path
    """Its topology file (an external target's file, with `target` or `target.external`)."""
    warnings: tuple[SpecWarning, ...]
    scaled_from_s: float | None
    """The file's own length when `--duration` scaled it, else None."""


def prepare(
    path: str | Path,
    duration_s: float | None,
    target: Path | None = None,
    runtime: str | None = None,
) -> Prepared:
    """The validated (and, with `duration_s`, scaled) experiment and what goes with it.
    Whatever the files alone decide (params, targets, a timeline too short) is an input
    error here, before anything starts."""
    checked = check_experiment(path, duration_s, target, runtime)
    experiment = checked.experiment
    if duration_s is None:
        return Prepared(experiment, checked.topology_path, checked.warnings, None)
    scaled = scale_experiment(experiment, duration_s)
    own = experiment.load.total_duration
    return Prepared(scaled, checked.topology_path, checked.warnings, own)


def run_experiment(path: str | Path, options: RunOptions, view: ProgressView) -> RunResult:
    """Carry out the experiment in `path`; see the module docstring."""
    prepared = prepare(path, options.duration_s, options.target, options.runtime)
    experiment, topology, warnings = prepared.experiment, prepared.topology, prepared.warnings
    for warning in warnings:
        view.stage(f"warning: {warning}")
    runtime = chosen_runtime(experiment, options)
    if (runtime == "kubernetes") != (options.kubernetes is not None):
        if options.kubernetes is None:
            raise InvalidInput("--kubeconfig", "", "the kubernetes runtime needs --kubeconfig FILE")
        raise InvalidInput("--kubeconfig", "", f"needs --runtime kubernetes (not {runtime})")
    # refused before the run directory exists: a run that cannot start writes nothing
    name = deployed_topology(runtime, topology).name
    make_runtime(runtime, state_root=options.state_root, progress=view.stage).refuse_if_running(
        name
    )
    target = None
    if runtime == EXTERNAL:
        view.stage(f"checking the target {name}")
        target = checked_target(topology)
    if options.kubernetes is not None:  # its kubeconfig loads, the server, the namespace
        from harness.faults.kube_access import refuse_denied_faults
        from mesh_runtime.runtimes.kubernetes.runtime import check_cluster

        check_cluster(options.kubernetes)
        refuse_denied_faults(experiment.faults, options.kubernetes)  # RBAC, before the deploy
    started = datetime.now(UTC)
    writer = RunWriter(options.out_dir, Path(path).stem, started)
    record = RunRecord(
        id=writer.run_id,
        experiment=ExperimentRef(
            name=Path(path).stem,
            title=experiment.title,
            file=str(path),
            spec=experiment.model_dump(mode="json"),
            scaled_from_s=prepared.scaled_from_s,
        ),
        status="running",
        harness=this_harness(),  # readers tell a live run from one whose harness died
        started_at=iso_utc(started),
        runtime=runtime,
        target=target,
        mode=experiment.target.mode,
    )
    record = writer.write_record(record)
    session = Session(experiment, topology, runtime, writer, record, view, options)
    with InterruptGuard() as guard:
        outcome = _carry_out(session)
        with guard.shielded():
            record = session.conclude(outcome)
    late = late_signal_note(guard.received, outcome.stopped)
    if late is not None:
        session.notes.append(late)
    return RunResult(
        record,
        writer.path,
        exit_code(record.verdicts, record.stopped),
        session.notes,
        [str(w) for w in warnings],
    )


def checked_target(target_file: Path) -> TargetRef:
    """The external target of the run, for run.json's `target`, once it is found ready
    (`refuse_unready_target`)."""
    target = load_target(target_file)
    refuse_unready_target(target, target_file)
    return target_ref(target, target_file)


def refuse_unready_target(target: TargetFile, target_file: Path) -> None:
    """An external target a run would measure nothing true of (`target.check.before_a_run`:
    no ingress, no Prometheus, another mesh's metrics, a proxy left faulted), refused with
    one line before the run directory exists."""
    from harness.target.check import before_a_run

    failed = before_a_run(target)
    if failed:
        part = ", ".join(check.part for check in failed)
        detail = "; ".join(check.detail for check in failed)
        raise InvalidInput(str(target_file), part, f"{detail} (`meshproof target check` says more)")


def chosen_runtime(experiment: Experiment, options: RunOptions) -> str:
    """`external` for an external target (`--target` or `target.external`), else
    `--runtime` or the experiment's `target.runtime`."""
    if options.target is not None or experiment.target.external is not None:
        if options.runtime is not None:
            raise InvalidInput(
                "--runtime", "", "an external target (--target) is not deployed by meshproof"
            )
        return EXTERNAL
    return options.runtime or experiment.target.runtime


def _carry_out(session: Session) -> RunOutcome:
    """Deploy and run the timeline: completed when it ran to its end, else why it stopped."""
    try:
        session.deploy()
        session.run_timeline()
        session.run_interleaved()
    except RunInterrupted as exc:
        return RunOutcome.aborted(str(exc))
    except MeshproofError as exc:
        return RunOutcome.error(str(exc))
    except Exception as exc:  # an unexpected failure still tears down and writes the run
        return RunOutcome.error(f"unexpected {type(exc).__name__}: {exc}")
    return RunOutcome()
