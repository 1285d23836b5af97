"""One run's moving parts and the order they are started and stopped in.

`Session` is driven by `harness.engine.runner`: `deploy()`, `run_timeline()`,
`run_interleaved()`, then always `conclude()`, which rolls faults back, stops the load and
the observers, collects what was measured, tears down and writes the run directory.
Every stopping step is idempotent, so `conclude()` is safe after a failure anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from harness.engine.analyse import Measured, analyse
from harness.engine.environment import collect_environment
from harness.engine.events import EventLog
from harness.engine.experiment_rollbacks import run_experiment_rollbacks
from harness.engine.faults import FaultRunner
from harness.engine.interleaved import InterleavedBlocks, interleaved_state_root
from harness.engine.observers import Observers, dialect_record, run_dialect
from harness.engine.options import RunOptions
from harness.engine.outcome import RunOutcome, rollback_note
from harness.engine.progress import ProgressView, Snapshot, phase_at
from harness.engine.results import drop_raw_records, final_record, load_workers, write_tables
from harness.engine.scheduler import Scheduler
from harness.engine.timeline import Action, late_load_note, plan_actions, shortfalls
from harness.errors import RunError
from harness.faults import LEDGER_FILE, FaultContext, FaultLedger
from harness.load import LoadDriver
from harness.load.driver import LOOPBACK
from harness.observe.forward import (
    ForwardingUnavailable,
    finish_forwarding,
    sink_url,
    start_forwarding,
)
from harness.observe.host_probe import HostProbe
from harness.report.run_files import run_files
from harness.report.views import keep_request_views
from harness.spec.experiment import Experiment
from harness.store import FaultEvent, RunRecord, RunWriter
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.errors import MeshproofError
from mesh_runtime.runtimes import Deployment, Runtime, ToxiproxyClient
from mesh_runtime.runtimes.registry import EXTERNAL, deployed_topology, make_runtime
from mesh_runtime.topology import MeshMode

LOAD_DRAIN_S = 5.0
"""How long after the schedule's end in-flight requests may take, beyond `load.timeout`."""


class Session:
    """The state of one run between its steps (see the module docstring)."""

    def __init__(
        self,
        experiment: Experiment,
        topology_path: Path,
        runtime: str,
        writer: RunWriter,
        record: RunRecord,
        view: ProgressView,
        options: RunOptions,
    ) -> None:
        self.experiment = experiment
        self.topology_path = topology_path
        self.topology = deployed_topology(runtime, topology_path)
        self.runtime_name = runtime
        self.writer = writer
        self.record = record
        self.view = view
        self.options = options
        self.notes: list[str] = []
        self.runtime: Runtime | None = None
        self.deployment: Deployment | None = None
        self.ctx: FaultContext | None = None
        self.faults: FaultRunner | None = None
        self.ledger: FaultLedger | None = None
        self.observers: Observers | None = None
        self.probe: HostProbe | None = None
        self.driver: LoadDriver | None = None
        self.events = EventLog(time.time())
        self.end_s: float | None = None
        self.load_stopped_s: float | None = None
        """When the load was stopped (seconds since t0): where a stopped run's phases end."""
        self.measured: Measured | None = None
        self.interleaved: InterleavedBlocks | None = None
        self.interleaved_requests: pd.DataFrame | None = None
        self._primary = True
        self._faults_finished = False
        self._forwarding_sink: str | None = None

    # --- the steps --------------------------------------------------------------------

    def deploy(self, mode: MeshMode | None = None) -> Deployment:
        mode = mode or self.experiment.target.mode
        if self.runtime_name == EXTERNAL:  # nothing is deployed: its state file is written
            self.view.stage(f"reading the external target {self.topology.name}")
        else:
            self.view.stage(f"deploying {self.topology.name} ({mode}, {self.runtime_name} runtime)")
        self.runtime = self._make_runtime(self.options.state_root)
        sidecar = self.options.sidecar_command
        self.deployment = self.runtime.up(self.topology_path, mode=mode, sidecar_command=sidecar)
        if self.deployment.runtime == "kubernetes":
            from mesh_runtime.runtimes.kubernetes.reach import require_reachable

            require_reachable(self.deployment)
        if self._primary:  # the main deployment: record where the run happened
            environment = collect_environment(self.deployment)
            if self.options.sidecar_version:
                label = {"sidecar_version": self.options.sidecar_version}
                environment = environment.model_copy(update=label)
            source = "prometheus" if self.deployment.prometheus_url else "builtin-scraper"
            if source == "builtin-scraper":
                self.note(
                    "no Prometheus in this deployment: metrics come from the built-in scraper"
                )
            self._save(environment=environment, metrics_source=source)
            self._start_forwarding(self.deployment)
        return self.deployment

    def run_timeline(self) -> None:
        """Observers, load, and the fault timeline, until the load has finished."""
        deployment = self._need_deployment()
        self.ctx = self._fault_context(deployment)
        self.ledger = FaultLedger(self.writer.path / LEDGER_FILE)
        # Injectors first: a fault on a target that does not exist (or its user may not
        # make) fails before any load, and before the ledger is registered for `recover`.
        self.faults = FaultRunner(self.experiment, self.ctx, self.ledger, self.events)
        self.ledger.register(self.options.state_root)
        # t0 = None: the driver picks t0 once every Locust worker is ready, so the warm-up
        # starts when the load can (a busy host delays it, never shortens the run).
        self.driver = LoadDriver(
            self.experiment.load,
            deployment.ingress_url,
            self.writer.path / "load",
            None,
            ingress=deployment.ingress_access(),
            tcp_targets=deployment.tcp_ingress,
            grpc_targets=deployment.grpc_ingress,
            master_bind=self.options.load_master_bind,
            master_port=self.options.load_master_port,
            local_workers=self.options.load_local_workers,
            on_listening=self._worker_pods(deployment),
        )
        self.probe = self._arm_probe()
        self.view.stage("starting the load (waiting for Locust to be ready)")
        self.events.add("load", "start", f"{self.experiment.load.rps:g} rps target")
        remote = self.experiment.load.workers - self.driver.local_workers
        if remote and deployment.runtime == "kubernetes":
            self.view.stage(f"starting {remote} Locust worker pod(s)")
        elif remote:
            address = f"{self.options.load_master_bind}:{self.options.load_master_port}"
            self.view.stage(
                f"waiting for {remote} Locust worker(s): meshproof load-worker --master {address}"
            )
        t0 = self.driver.start()
        self.events.t0 = t0  # t0 is the start of warm-up: the load schedule's start
        ready_s = self.events.add("load", "ready", "Locust master and workers are up")
        late = late_load_note(ready_s, self.experiment.load.warmup)
        if late is not None:
            self.note(late)
        dialect = run_dialect(deployment, self.topology)
        self.observers = Observers(
            deployment, t0, self._current, self.writer.path, dialect, probe=self.probe
        )
        self.observers.start()
        self.observers.harness_pids(self.driver.pids())
        self.view.stage("running")
        scheduler = Scheduler(plan_actions(self.experiment), t0, self._execute, tick=self._tick)
        scheduler.run()
        self.end_s = self.events.add("load", "end", "schedule done")

    def _arm_probe(self) -> HostProbe | None:
        """The host probe, started before the load picks t0 and waiting for it: its
        start-up (a Python process, slow on a busy host) then costs the run no second."""
        probe = HostProbe(self.writer.path)
        try:
            probe.start()
        except MeshproofError:
            return None  # the observers try again with t0, and say why it failed
        return probe

    def _worker_pods(self, deployment: Deployment) -> Callable[[str], None] | None:
        """On the kubernetes runtime, the Locust workers not started on this machine run as
        pods of the load image, started once the master listens (`--load-master-bind`
        must be an address the pods reach, e.g. the node's)."""
        remote = self.experiment.load.workers - (self.options.load_local_workers or 0)
        if deployment.runtime != "kubernetes" or self.options.load_master_bind == LOOPBACK:
            return None
        from mesh_runtime.runtimes.kubernetes.runtime import KubernetesRuntime

        def start(master: str) -> None:
            KubernetesRuntime().start_load_workers(deployment, master, remote)

        return start if remote > 0 else None

    def run_interleaved(self) -> None:
        """`target.compare_to`: the same load, interleaved with a second deployment in that
        mode (see `harness.engine.interleaved`)."""
        other = self.experiment.target.compare_to
        if other is None:
            return
        self.collect()
        mesh_url = self._current().ingress_url
        runtime = self._make_runtime(interleaved_state_root(self.options.state_root, other))
        self.interleaved = InterleavedBlocks(runtime, self.topology_path, other)
        self.view.stage(f"deploying {self.topology.name} ({other}) beside it")
        self.interleaved.deploy()
        self.view.stage(f"the same load, interleaved: {self.experiment.target.mode} / {other}")
        requests = self.interleaved.run(
            mesh_url,
            self.experiment.target.mode,
            self.experiment.load,
            self.writer.path / f"load-{other}",
            self.view.stage,
        )
        self.interleaved_requests = requests
        self.events.add("compare", other, f"{len(requests)} requests in interleaved blocks")

    def conclude(self, outcome: RunOutcome) -> RunRecord:
        """Roll back, stop, collect, tear down, analyse and write; returns the final record."""
        if outcome.stopped:
            self.note(str(outcome))
        self.view.stage("rolling back faults and stopping the load")
        outcome = outcome.with_rollback_problems(self._finish_faults())
        self.collect()
        self.teardown()
        self.view.stage("analysing")
        try:
            return self._write(outcome)
        finally:
            self.view.close()

    # --- stopping, idempotent ---------------------------------------------------------

    def _finish_faults(self) -> tuple[str, ...]:
        """Roll every fault back (once); what could not be undone."""
        if self.faults is None or self._faults_finished:
            return ()
        self._faults_finished = True
        problems = self.faults.finish()
        for unfinished in self.faults.cut_short():
            self.note(unfinished)
        if self.ctx is not None and self.experiment.rollbacks:
            problems += run_experiment_rollbacks(self.experiment.rollbacks, self.ctx)
        for problem in problems:
            self.note(rollback_note(problem))
        if self.ledger is not None and not self.ledger.pending():
            self.ledger.unregister()
        return tuple(problems)

    def collect(self) -> None:
        """Stop the load and the observers and keep what they measured (once)."""
        if self.driver is not None:
            if self.load_stopped_s is None:
                self.load_stopped_s = self.events.add("load", "stop", "the load was stopped")
            self.driver.stop()
        stopped = time.time()
        if self.observers is None and self.probe is not None:
            self.probe.stop()  # armed, but the load never started
        if self.measured is not None or self.observers is None or self.driver is None:
            return
        metrics = spans = resources = None
        try:
            spans, metrics = self.observers.spans_and_metrics(stopped)
            self._finish_forwarding()
        except MeshproofError as exc:
            self.note(f"collecting: {exc}")
        finally:
            self.observers.stop()
            resources = self.observers.resources()
        self.notes.extend(self.observers.problems)
        self.measured = Measured(
            self.driver.records_files(),
            resources,
            metrics,
            spans,
            host=self.observers.host(),
            histogram_files=self.driver.histogram_files(),
            dialect=self.observers.dialect,
            unmeasured=frozenset(self.observers.unmeasured),
        )
        workers = load_workers(self.driver.workers(), self.events.t0)
        for worker in workers:
            if worker.status == "lost":
                self.note(
                    f"Locust worker {worker.name} was lost {worker.lost_at_s or 0:.1f}s into the"
                    f" run: {worker.records} of its {worker.share} requests reached the master,"
                    f" {worker.unsent} counted unsent"
                )
        self._save(dialect=dialect_record(self.observers.dialect), load_workers=workers)

    def teardown(self, force: bool = False) -> None:
        if self.interleaved is not None and not (self.options.keep and not force):
            try:
                self.interleaved.teardown()
            except MeshproofError as exc:
                self.note(f"teardown: {exc}")
        if self.runtime is None or self.deployment is None:
            return
        deployment = self._current()
        if self.options.keep and not force:
            self.note(f"--keep: {deployment.name} is still up (meshproof down to stop it)")
            return
        external = deployment.runtime == EXTERNAL
        self.view.stage(f"{'forgetting' if external else 'tearing down'} {deployment.name}")
        try:
            self.runtime.down(deployment)
        except MeshproofError as exc:
            self.note(f"teardown: {exc}")
        self.deployment = None

    # --- span forwarding (run --otlp-forward, a target's traces.forward) ------------------------

    def _start_forwarding(self, deployment: Deployment) -> None:
        url = self.options.otlp_forward
        target = deployment.target
        if url is None and target is not None and target.traces is not None:
            url = target.traces.forward
        if url is None:
            return
        try:
            sink = sink_url(deployment)
            start_forwarding(sink, url, self.record.id)
        except ForwardingUnavailable as exc:
            self.note(f"forwarding spans to {url}: {exc}")
            return
        self._forwarding_sink = sink
        self.events.add("traces", "forward", f"every span also sent to {url}")

    def _finish_forwarding(self) -> None:
        """Wait (bounded) for the sink to send what it holds; its counts into run.json."""
        if self._forwarding_sink is None:
            return
        sink, self._forwarding_sink = self._forwarding_sink, None
        try:
            forward = finish_forwarding(sink)
        except ForwardingUnavailable as exc:  # e.g. the sink was restarted by a fault
            self.note(f"forwarding spans: no counts to report: {exc}")
            return
        if forward.lost:
            self.note(
                f"forwarding spans to {forward.url}: {forward.lost} of"
                f" {forward.sent + forward.lost} not delivered"
                + (f" (last error: {forward.last_error})" if forward.last_error else "")
            )
        self._save(forward=forward)

    # --- the timeline's callbacks ---------------------------------------------------------

    def _execute(self, action: Action) -> None:
        if action.kind == "end":
            assert self.driver is not None
            if not self.driver.wait(self._drain_s()):
                self.note("the load did not finish its schedule in time")
            if self.driver.live().sent == 0:
                logs = self.writer.path / "load"
                raise RunError(f"the load driver sent no request (its logs: {logs}/*.log)")
            return
        assert self.faults is not None
        self.faults.execute(action)

    def _tick(self, elapsed_s: float) -> None:
        if self.driver is None or self.faults is None:
            return
        live = self.driver.live()
        active = self.faults.active_names()
        seen = len(self.faults.applied) + len(active)
        self.view.update(
            Snapshot(
                phase=phase_at(
                    elapsed_s,
                    self.experiment.load.warmup,
                    active,
                    seen,
                    len(self.experiment.faults),  # each is due within the load (validated)
                ),
                elapsed_s=min(elapsed_s, self.experiment.load.total_duration),
                total_s=self.experiment.load.total_duration,
                rps=live.rps,
                error_rate=live.error_rate,
                p99_ms=live.p99_ms,
                sent=live.sent,
                failed=live.failed,
                active_faults=active,
                target_rps=live.target_rps,
                late=live.late,
                max_lag_ms=live.max_lag_ms,
                connections=live.connections,
                behind=live.behind,
                window_s=live.window_s,
            )
        )

    # --- writing ----------------------------------------------------------------------------

    def _write(self, outcome: RunOutcome) -> RunRecord:
        faults: list[FaultEvent] = self.faults.events_so_far() if self.faults else []
        analysis = None
        if self.measured is not None:
            # a fault cut short or never applied is said, whatever ended the run; a stopped
            # run measured until its load stopped, not until this write (after the teardown)
            end_s = self._stopped_at() if outcome.stopped else None
            ended = self.experiment.load.total_duration if end_s is None else end_s
            for problem in shortfalls(self.experiment, faults, ended):
                self.note(problem)
            try:
                analysis = analyse(
                    self.experiment,
                    self.topology,
                    self.experiment.target.mode,
                    faults,
                    self.measured,
                    end_s=end_s,
                    interleaved=self.interleaved_requests,
                )
            except MeshproofError as exc:
                outcome = outcome.failed_with(f"analysis: {exc}")
                self.note(f"analysis: {exc}")
        compare = self._compare()
        write_tables(self.writer, self.events, self.measured, analysis, compare)
        outcome = outcome.final(measured=analysis is not None)
        mode = self.experiment.target.mode
        record = final_record(self.record, self.events.t0, analysis, faults, outcome, mode, compare)
        record = record.model_copy(update={"notes": list(self.notes)})
        if analysis is not None:
            analysis = analysis.without_requests()  # before DuckDB reads them back
            self._keep_views(record)
        render = run_files(analysis.windows if analysis else None)
        if outcome.status == "aborted":
            return self.writer.mark_aborted(record, outcome.record_error(), render)
        record = self.writer.finish(record, render)
        drop_raw_records(self.writer.path)
        return record

    def _stopped_at(self) -> float:
        """Where a stopped run's measurement ends: when its load was stopped."""
        return self.events.now_s() if self.load_stopped_s is None else self.load_stopped_s

    def _compare(self) -> tuple[str, pd.DataFrame] | None:
        """`target.compare_to` and its interleaved requests, once measured."""
        if self.interleaved_requests is None:
            return None
        return str(self.experiment.target.compare_to), self.interleaved_requests

    def _keep_views(self, record: RunRecord) -> None:
        """The Run page's views of the requests, answered now (`harness.report.views`); a
        view that fails is asked of the table when the page opens."""
        try:
            keep_request_views(self.writer.path, record)
        except MeshproofError as exc:
            self.note(f"views: {exc}")

    # --- plumbing ---------------------------------------------------------------------------

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.events.add("note", "engine", text)

    def _save(self, **update: object) -> None:
        self.record = self.writer.write_record(self.record.model_copy(update=update))

    def _make_runtime(self, state_root: Path | None) -> Runtime:
        return make_runtime(
            self.runtime_name,
            state_root=state_root,
            progress=self.view.stage,
            kubernetes=self.options.kubernetes,
        )

    def _need_deployment(self) -> Deployment:
        if self.deployment is None:
            raise RunError("nothing is deployed")
        return self.deployment

    def _current(self) -> Deployment:
        """The deployment as it is now (a restarted process has a new pid)."""
        if self.ctx is not None and self._primary:
            return self.ctx.deployment
        return self._need_deployment()

    def _fault_context(self, deployment: Deployment) -> FaultContext:
        control = None
        if deployment.control_url:
            control = ControlPlaneClient(deployment.control_url, deployment.control_token)
        toxiproxy = ToxiproxyClient(deployment.toxiproxy_url) if deployment.toxiproxy_url else None
        return FaultContext(
            deployment=deployment,
            runtime=self.runtime,
            control=control,
            toxiproxy=toxiproxy,
            run=self.writer.path.name,
        )

    def _drain_s(self) -> float:
        return self.experiment.load.timeout + LOAD_DRAIN_S
