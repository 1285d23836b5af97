"""The observers of one run, started before the load and stopped after it.

- a psutil resource sampler over every process of the deployment (restarted processes
  are found again by name through the fault context's current deployment); the Docker
  stats API's per container on the docker runtime, the kubelets' resource metrics on the
  kubernetes runtime (`kubernetes.stats`); and on every runtime a psutil sampler of the
  harness's own processes on this machine (the orchestrator, the Locust master and local
  workers: role `harness`), so the run's CPU split has the harness's share everywhere;
- metrics: the deployment's Prometheus, queried over the run's range afterwards in the
  target's metric dialect (`harness.observe.dialects`; the reference mesh's is
  `meshproof`, the queries it always made plus every signal's); where
  the deployment has no Prometheus, the built-in scraper reads every sidecar's /metrics
  each second, and the run records `metrics_source: builtin-scraper`;
- spans: read from the trace sink's file once the load is over: on the local and docker
  runtimes once every span producer said it sent what it held (`harness.observe.
  span_flush`), elsewhere (and when a producer cannot say so, with a note) once the file
  stopped growing;
- the host's disturbance probe (`harness.observe.probe`, a process of its own): scheduling
  lag, steal, iowait, load and the CPU outside the deployment and the harness, per second.
  A probe that cannot start is a note, not a failed run: the run's `host` is then None.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from harness.observe import (
    BuiltinScraper,
    HostProbe,
    PrometheusObserver,
    ResourceSampler,
    sidecar_targets,
)
from harness.observe.dialects import (
    MESHPROOF,
    BoundDialect,
    NoData,
    dialect_for,
    reference_mesh_dialect,
    unseen_reason,
)
from harness.observe.rows import frame as metrics_frame
from harness.observe.span_flush import flush_span_producers
from harness.observe.traces import fetch_spans, read_spans, sink_span_count
from harness.store.model import DialectRecord, MetricsSource
from mesh_runtime.errors import MeshproofError
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.kubernetes.stats import KubeletStatsSampler
from mesh_runtime.runtimes.prometheus import PrometheusServer
from mesh_runtime.topology import Topology

if TYPE_CHECKING:
    from mesh_runtime.runtimes.docker import DockerStatsSampler

SPANS_SETTLE_S = 2.5
"""Where the producers cannot be asked to flush: the spans file must stop growing this
long before it is read (exporters batch)."""
SPANS_FLUSHED = ("local", "docker")
"""Runtimes whose span producers the harness asks to flush (it reaches their ports)."""
SPANS_WAIT_MAX_S = 12.0
LAST_SCRAPE_WAIT_S = 5.0
"""How long the metrics wait for a scrape of every target after the load stopped (the
runtimes' Prometheus scrapes each second)."""
SCRAPE_CHECKED = ("local", "docker")
"""Runtimes whose Prometheus the harness reaches without credentials, so it can ask when
each target was last scraped."""


class Observers:
    """Resource sampler and metrics source for one deployment, from `t0` on."""

    def __init__(
        self,
        deployment: Deployment,
        t0: float,
        current: Callable[[], Deployment],
        work_dir: Path,
        dialect: BoundDialect | None = None,
        probe: HostProbe | None = None,
    ) -> None:
        """`probe`: the host probe, armed before the load picked t0 (None: one started
        now, its first row from the second it could start in)."""
        self._deployment = deployment
        self.dialect = dialect or MESHPROOF.bind()
        self._t0 = t0
        self._current = current
        self.metrics_source: MetricsSource = (
            "prometheus" if deployment.prometheus_url else "builtin-scraper"
        )
        self._sampler: ResourceSampler | DockerStatsSampler | KubeletStatsSampler
        if deployment.runtime == "docker":  # the Docker stats API, per container
            from mesh_runtime.runtimes.docker import DockerRuntime

            self._sampler = DockerRuntime().stats_sampler(
                deployment, t0=t0, out=work_dir / "resources.jsonl"
            )
        elif deployment.runtime == "kubernetes":  # the kubelets' resource metrics
            from mesh_runtime.runtimes.kubernetes.runtime import KubernetesRuntime

            self._sampler = KubernetesRuntime().stats_sampler(
                deployment, t0=t0, out=work_dir / "resources.jsonl"
            )
        else:
            processes = [(p.role, p.name, p.pid) for p in deployment.processes]
            self._sampler = ResourceSampler(
                processes, t0=t0, resolve=self._pid_of, out=work_dir / "resources.jsonl"
            )
        self._harness = ResourceSampler(
            [("harness", "orchestrator", os.getpid())],
            t0=t0,
            out=work_dir / "resources-harness.jsonl",
        )
        self._scraper: BuiltinScraper | None = None
        if self.metrics_source == "builtin-scraper":
            self._scraper = BuiltinScraper(sidecar_targets(deployment), t0=t0)
        self._work_dir = work_dir
        self._probe = probe or HostProbe(work_dir, t0)
        self._probe_running = False
        self.problems: list[str] = []
        self.unmeasured: set[str] = set()
        """Metrics the observers found nothing to measure from (`Measured.unmeasured`)."""

    def _pid_of(self, name: str) -> int | None:
        for record in self._current().processes:
            if record.name == name:
                return record.pid
        return None

    def start(self) -> None:
        self._start_probe()
        self._sampler.start()
        self._harness.start()
        if self._scraper is not None:
            self._scraper.start()

    def _start_probe(self) -> None:
        try:
            if self._probe.armed:
                self._probe.begin(self._t0)
            else:
                self._probe.start()
            self._probe_running = True
        except MeshproofError as exc:
            self.problems.append(f"host probe: {exc}; the run has no host disturbance")

    def harness_pids(self, pids: list[int]) -> None:
        """The harness's other processes (the Locust master and workers): not foreign CPU,
        and sampled with role `harness` (the run's CPU split)."""
        if self._probe_running:
            self._probe.harness_pids(pids)
        self._harness.track(("harness", f"load-{pid}", pid) for pid in pids)

    def stop(self) -> None:
        """Stop sampling, scraping and the probe; safe to call twice."""
        self._probe.stop()
        self._sampler.stop()
        self._harness.stop()
        unread = self._sampler.unread() if isinstance(self._sampler, KubeletStatsSampler) else None
        if unread is not None and f"resources: {unread}" not in self.problems:
            self.problems.append(f"resources: {unread}")
        if self._scraper is not None:
            self._scraper.stop()

    def host(self) -> pd.DataFrame | None:
        """The probe's table (None when the probe did not run)."""
        return self._probe.frame() if self._probe_running else None

    def resources(self) -> pd.DataFrame:
        """The deployment's rows, then the harness's."""
        frames = [f for f in (self._sampler.frame(), self._harness.frame()) if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else self._sampler.frame()

    def metrics(self, end: float, scraped_after: float | None = None) -> pd.DataFrame:
        """The metrics table from `t0` to `end` (wall clock); empty, with a note, on failure.

        `scraped_after`: first wait (bounded) until Prometheus scraped every target at or
        after that time, and end the range no earlier than its first step (1 s from `t0`)
        at or after the last of those scrapes, so that the table's last row holds them (a
        runtime's own Prometheus only). That step may still be ahead of the clock:
        Prometheus evaluates it as any other, from the samples it holds, and every one the
        run needs (up to `scraped_after`) is among them; waiting for the clock to pass it
        cost a run 0.5 s on average."""
        if self._scraper is not None:
            return self._scraper.frame()
        access = self._deployment.prometheus_access()
        assert access is not None
        if scraped_after is not None:
            last = self._wait_last_scrape(access.url, scraped_after)
            if last is not None:
                end = max(end, self._t0 + math.ceil(last - self._t0))
        observer = PrometheusObserver.of(access, queries=self.dialect.queries())
        try:
            table = observer.collect(self._t0, end, self._t0)
        except MeshproofError as exc:
            self.problems.append(f"metrics: {exc}")
            return metrics_frame([])
        try:  # a counter whose family Prometheus never had is no data, never 0
            self.dialect = self.dialect.with_unseen(
                observer.unseen(self.dialect, table, self._t0, end), access.selector()
            )
        except MeshproofError as exc:
            self.problems.append(f"metrics: {exc}")
        return table

    def spans_and_metrics(self, stopped: float) -> tuple[pd.DataFrame | None, pd.DataFrame]:
        """The spans and the metrics table of the run, once each is complete; `stopped`
        (wall clock): when the load stopped.

        Where the runtime's Prometheus tells when it last scraped each target (local,
        docker), the metrics are read once every target was scraped after `stopped`,
        while the spans are flushed and read in a thread; elsewhere after the spans
        settled, as ever."""
        if self._scraper is not None or self._deployment.runtime not in SCRAPE_CHECKED:
            spans = self.spans()
            return spans, self.metrics(time.time())
        with ThreadPoolExecutor(1, thread_name_prefix="spans") as pool:
            pending = pool.submit(self.spans)
            metrics = self.metrics(time.time(), scraped_after=stopped)
            return pending.result(), metrics

    def _wait_last_scrape(self, url: str, when: float) -> float | None:
        """The time of the last scrape of the first round of scrapes after `when` (None,
        with a note, when there was none in time)."""
        try:
            last = PrometheusServer(url).wait_for_scrapes_after(when, LAST_SCRAPE_WAIT_S)
            if last is not None:
                return last
            problem = f"not every target was scraped within {LAST_SCRAPE_WAIT_S:g}s"
        except MeshproofError as exc:
            problem = str(exc)
        self.problems.append(f"metrics: {problem} after the load stopped; read as they are")
        return None

    def spans(self) -> pd.DataFrame | None:
        """The spans of the run from the trace sink's file, once every producer flushed
        (local, docker) or else once the file stops growing (a sink in a pod: its span
        count, then its file fetched into the run's work dir)."""
        path = self._deployment.trace_file
        sink = self._deployment.trace_url
        if path:
            if not self._flushed():
                wait_until_settled(lambda: _size(Path(path)), SPANS_SETTLE_S, SPANS_WAIT_MAX_S)
            return self._external_spans(read_spans(path, self._t0))
        if sink:
            wait_until_settled(lambda: sink_span_count(sink), SPANS_SETTLE_S, SPANS_WAIT_MAX_S)
            fetched = self._work_dir / "spans.jsonl"  # the spans table keeps them
            try:
                fetch_spans(sink, fetched)
                return read_spans(fetched, self._t0)
            finally:
                fetched.unlink(missing_ok=True)
        return None

    def _external_spans(self, spans: pd.DataFrame) -> pd.DataFrame | None:
        """An external target's spans; None, with a note, when not one reached the
        receiver: the mesh's tracer does not export to it, so trace completeness is not
        measured (not judged), never 0 (its incomplete traces would be the receiver's)."""
        target = self._deployment.target
        if target is None or target.traces is None or len(spans):
            return spans
        self.unmeasured.add("trace_completeness")
        self.problems.append(no_spans_note(target.traces.listen))
        return None

    def _flushed(self) -> bool:
        """Whether every span producer of the deployment said it sent what it held (only
        asked on the local and docker runtimes); a note names those that did not."""
        if self._deployment.runtime not in SPANS_FLUSHED:
            return False
        problems = flush_span_producers(self._current())
        if not problems:
            return True
        shown = "; ".join(problems[:3]) + (
            f"; {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        self.problems.append(
            f"spans: not every producer could flush its spans ({shown}); read once the "
            f"sink's file had not grown for {SPANS_SETTLE_S:g}s"
        )
        return False


def no_spans_note(listen: str) -> str:
    """The run note of an external target whose OTLP receiver took no span."""
    return (
        f"traces: no span reached the OTLP receiver on {listen} during the run: the mesh's"
        " tracer does not export there (Istio: an OpenTelemetry extension provider at that"
        " address, enabled by a Telemetry resource); trace_completeness is not judged"
    )


def run_dialect(deployment: Deployment, topology: Topology) -> BoundDialect:
    """The dialect a run reads its metrics in: an external target's `mesh`, else the one
    that reads the reference sidecars' `metrics.dialect` (Istio's names: `meshproof`).
    A target's extra label matchers are added as the queries are sent (PrometheusAccess)."""
    if deployment.target is not None:
        return dialect_for(deployment.target.mesh).bind()
    return reference_mesh_dialect(topology.metrics.dialect).bind()


def dialect_record(dialect: BoundDialect) -> DialectRecord:
    """run.json's account of the dialect: each signal's query, or why it has none."""
    queries = {name: q for name in dialect.signals if (q := dialect.query(name)) is not None}
    no_data = {name: q.reason for name, q in dialect.signals.items() if isinstance(q, NoData)}
    no_data.update(
        (name, unseen_reason(dialect.families[name], dialect.unseen_within))
        for name in dialect.unseen
    )
    return DialectRecord(name=dialect.name, queries=queries, no_data=no_data)


def wait_until_settled(measure: Callable[[], int], settle_s: float, limit_s: float) -> None:
    """Wait (bounded) until `measure()` (a file's size, a sink's span count) has not
    changed for `settle_s` seconds."""
    deadline = time.monotonic() + limit_s
    size, since = measure(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now_size = measure()
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= settle_s:
            return


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1
