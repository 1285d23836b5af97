"""run.json: the one typed model of a run record (schema_version 1, see DEVELOPING.md).

`RunRecord` is what `harness.store.writer` writes and `harness.store.reader` reads; the
analysis produces `PhaseSummary` values and the judge `Verdict`s that go into it.
A metric that could not be computed is `None` (no data), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.spec.phase import WHOLE, Phase

SCHEMA_VERSION = 1

RunStatus = Literal["running", "passed", "failed", "inconclusive", "aborted", "error"]
"""`inconclusive`: no SLO failed, and the host was too noisy to judge at least one."""
Outcome = Literal["pass", "fail", "inconclusive"]
MetricsSource = Literal["prometheus", "builtin-scraper", "none"]

SUMMARY_METRICS = (
    "rps",
    "target_rps",
    "late_share",
    "max_send_lag_ms",
    "error_rate",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "corrected_p99_ms",
    "trace_completeness",
    "sidecar_cpu_per_krps",
    "sidecar_rss_mb",
    "retries_per_krequests",
    "ejections",
    "overflows",
)
"""The headline metrics copied from the `whole` phase into `RunRecord.summary`."""


class RecordModel(BaseModel):
    # Readers must accept records written by a later meshproof that added fields.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ExperimentRef(RecordModel):
    name: str
    title: str = ""
    file: str = ""
    spec: dict[str, Any] = {}
    """The experiment as validated (JSON form), so a run can be understood on its own."""
    scaled_from_s: float | None = None
    """The file's own length when `run --duration` scaled the experiment (the spec above is
    the scaled one); None for a run of the file as written."""


class ToolVersions(RecordModel):
    """The versions of the tools a run used (`environment.tools` in run.json)."""

    prometheus: str | None = None
    toxiproxy: str | None = None
    locust: str | None = None


class Environment(RecordModel):
    hostname: str = ""
    python: str = ""
    meshproof: str = ""
    sidecar_version: str = ""
    tools: ToolVersions = ToolVersions()


class TargetRef(RecordModel):
    """The external target a run was against (`run --target FILE`, or the experiment's
    `target.external`): `target` in run.json; None for a deployment meshproof made."""

    file: str
    """The target file's path (resolved), e.g. '/ci/targets/staging-istio.yaml'."""
    name: str
    """The target's `name` (its deployment is `external-<name>`)."""
    mesh: str
    """The target's `mesh`: istio | linkerd | consul | meshproof."""
    ingress: str
    """The ingress URL the load was sent to."""

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes two runs' targets one deployment: its name, mesh and ingress (not
        the file's path, which differs between a laptop and CI)."""
        return (self.name, self.mesh, self.ingress)

    def describe(self) -> str:
        """'staging-istio.yaml (staging-shop, istio, https://shop.staging.example)'."""
        return f"{Path(self.file).name} ({self.name}, {self.mesh}, {self.ingress})"


class HarnessProcess(RecordModel):
    """The process that carries the run out (`harness` in run.json): enough to tell, on
    its host, whether it still runs (`harness.store.liveness`), across pid reuse and
    reboots."""

    pid: int
    hostname: str
    boot_id: str = ""
    """The kernel's boot id (/proc/sys/kernel/random/boot_id); empty where there is none."""
    start_ticks: int | None = None
    """The process's start, in clock ticks after boot (/proc/<pid>/stat, field 22): another
    process given the pid later started later. None where /proc has no such file."""


class PhaseRecord(RecordModel):
    """A phase of the timeline: `name` is its text (`harness.spec.phase.Phase`)."""

    name: str
    start_s: float
    end_s: float


class FaultEvent(RecordModel):
    """A fault as it was actually applied; `end_s` None: it stayed until the run ended."""

    name: str
    kind: str
    target: str
    start_s: float
    end_s: float | None = None
    params: dict[str, Any] = {}


class Verdict(RecordModel):
    """One SLO judged: the measured value against the threshold, in one phase.

    `outcome` is pass, fail or inconclusive (the host's disturbance in the phase could
    explain the distance from the threshold, `harness.judge.disturbance`); `passed` is
    true only for pass. A record written before outcomes existed gets its outcome from
    `passed`.
    """

    slo: str
    metric: str
    op: str
    threshold: float
    phase: str
    value: float | None
    passed: bool
    outcome: Outcome = "fail"
    """Given or not, it agrees with `passed` (taken from it when left out)."""
    reason: str = ""
    """Why it failed when there was nothing to measure (no data), else empty."""
    disturbance: str = ""
    """The host's disturbance in the phase, named (latency verdicts); empty when unmeasured."""
    unmeasured: bool = False
    """Not judged: the metric was never measured (its counter's family was in no series of
    Prometheus during the run: `reason` names it). Neither passed nor failed; the run is
    inconclusive (exit 3)."""

    @model_validator(mode="before")
    @classmethod
    def _outcome_or_passed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if "outcome" not in data and "passed" in data:
                data = {**data, "outcome": "pass" if data["passed"] else "fail"}
            elif "passed" not in data and "outcome" in data:
                data = {**data, "passed": data["outcome"] == "pass"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Verdict:
        if self.passed != (self.outcome == "pass"):
            raise ValueError(f"passed={self.passed} contradicts outcome {self.outcome!r}")
        return self


class CpuSplit(RecordModel):
    """How a phase's CPU split between sidecars, apps, harness and the rest of the mesh
    (`harness.analysis.cpu_split`): mean cores each, and CPU ms per achieved request."""

    phase: str
    rps: float | None = None
    cores: dict[str, float] = {}
    ms_per_request: dict[str, float] | None = None


class HostDisturbance(RecordModel):
    """How disturbed the host was over a phase (the disturbance probe, DEVELOPING.md).

    Every field is None when nothing was measured (no probe, no samples in the phase).
    """

    sched_lag_p50_ms: float | None = None
    """Median of the probe's per-second p50 wake-up lateness (ms)."""
    sched_lag_p99_ms: float | None = None
    """Median of the probe's per-second p99 wake-up lateness (ms)."""
    sched_lag_max_ms: float | None = None
    """Largest wake-up lateness seen in the phase (ms)."""
    steal_share: float | None = None
    """Share of all CPU time stolen by the hypervisor over the phase (0..1)."""
    iowait_share: float | None = None
    """Share of all CPU time spent idle waiting for I/O over the phase (0..1)."""
    load1_max: float | None = None
    """Largest 1-minute load average seen in the phase."""
    foreign_cpu_cores: float | None = None
    """Mean CPU cores used by processes outside the deployment and the harness."""
    busy_cores: float | None = None
    """Mean CPU cores busy on the whole host (the deployment, the harness and the rest)."""
    steal_cores: float | None = None
    """Mean cores' worth of time the hypervisor ran something else while this host wanted
    the CPU (steal): disturbance the host's own process list cannot show."""
    online_cores: float | None = None
    """The host's online cores (None in runs recorded before the probe read them)."""
    send_lag_max_ms: float | None = None
    """The load driver's largest send lag in the phase (ms)."""
    probe_cpu_cores: float | None = None
    """The probe's own mean CPU use (cores), so its cost is visible."""


class HdrPrecision(RecordModel):
    """The precision of the HDR histograms behind the `hdr_*` percentiles."""

    significant_digits: int
    relative_error: float
    """The largest relative error of a recorded value: 10 ** -significant_digits."""
    lowest_us: int
    highest_us: int
    """The trackable range of a latency, in microseconds; larger values are clamped."""


class DialectRecord(RecordModel):
    """The metric dialect a run's metrics were queried in (`harness.observe.dialects`)."""

    name: str
    """The target's `mesh`: istio | linkerd | consul | meshproof."""
    queries: dict[str, str] = {}
    """Signal -> the PromQL sent; its rows in metrics.parquet have it as `metric`."""
    no_data: dict[str, str] = {}
    """Signal -> why the mesh's metrics cannot give it (NoData: no value, never 0)."""


class PhaseSummary(RecordModel):
    """Every metric of `harness.spec.slo.METRICS` computed over one phase."""

    phase: str
    start_s: float
    end_s: float
    values: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    """metric -> why its value is None (e.g. 'no sidecar processes were sampled')."""
    bounds: dict[str, tuple[float, float]] = {}
    """metric -> (the count surely in the phase, its value) of a mesh counter whose value
    may hold events of the phase before: its scrapes cannot place the events next to the
    phase's start (`harness.analysis.signals.counter_surely_in`)."""
    intervals: dict[str, tuple[float, float]] = {}
    """latency percentile -> its distribution-free 95 % confidence interval, what the
    phase's number of requests can tell of it (`harness.analysis.stats.percentile_intervals`;
    empty in records that predate it)."""
    scrape_lag_s: float | None = None
    """How far the mesh counters' samples may trail their times (the scrape interval)."""
    host: HostDisturbance | None = None
    """The host's disturbance over the phase; None in records that predate the probe."""

    def value(self, metric: str) -> float | None:
        return self.values.get(metric)


class TraceSummary(RecordModel):
    """What trace completeness found (harness.analysis.traces.TraceReport.summary())."""

    requests: int = 0
    """2xx harness requests judged."""
    complete: int = 0
    broken_parent_spans: int = 0
    orphan_spans: int = 0
    orphan_traces: int = 0
    expected: dict[str, int] = {}
    """The span multiset one request implies, e.g. {'catalog handle': 1, ...}."""
    examples: list[dict[str, Any]] = []
    """Incomplete traces: {trace_id, missing: [span labels], spans: n}."""
    expected_by_route: dict[str, dict[str, int]] = {}
    """The span multiset of a route entering at a service behind the ingress's sidecar (a
    gRPC route, by its name): the ingress sidecar's outbound span to it, then its visit."""


class ForwardRecord(RecordModel):
    """Spans sent on to the user's OTLP/HTTP endpoint (`run --otlp-forward`), as span counts."""

    url: str
    attributes: dict[str, str] = {}
    """The resource attributes every forwarded span got, e.g. {'meshproof.run.id': id}."""
    sent: int = 0
    dropped: int = 0
    """Received while the forwarding queue was full: never sent."""
    failed: int = 0
    """In a POST the endpoint refused for good (a 4xx other than 408 and 429). A POST that
    failed otherwise (no answer, timeout, 408, 429, 5xx) was tried again: its spans are
    sent, or `unsent` at the end."""
    rejected: int = 0
    """Answered 2xx but named rejected by the endpoint (OTLP partial success)."""
    unsent: int = 0
    """Still queued when the run stopped waiting for the sender."""
    exports: int = 0
    failed_exports: int = 0
    last_error: str | None = None

    @property
    def lost(self) -> int:
        return self.dropped + self.failed + self.rejected + self.unsent


class LoadWorker(RecordModel):
    """One Locust worker of the run, as its master saw it (`harness.load.workers`)."""

    index: int
    client_id: str
    """Locust's id of the worker: its host name and a random suffix."""
    records: int
    """Request records the master received from it."""
    share: int
    """Requests of the schedule that were its."""
    status: Literal["done", "lost", "running"]
    """`lost`: gone (no heartbeat, or it quit) before its share was done."""
    unsent: int = 0
    """A lost worker's share whose records never reached the master."""
    lost_at_s: float | None = None
    """Seconds after t0 the master found it gone."""

    @property
    def name(self) -> str:
        return f"w{self.index} ({self.client_id})"


class Summary(RecordModel):
    """The whole run's headline numbers (the `whole` phase)."""

    requests: int = 0
    rps: float | None = None
    """The achieved rate: answers per second of measured time."""
    target_rps: float | None = None
    """The rate the schedule intended (None in records that predate it)."""
    late_share: float | None = None
    """Share of requests that left more than 10 ms after their intended time."""
    max_send_lag_ms: float | None = None
    error_rate: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    corrected_p99_ms: float | None = None
    trace_completeness: float | None = None
    sidecar_cpu_per_krps: float | None = None
    sidecar_rss_mb: float | None = None
    retries_per_krequests: float | None = None
    ejections: float | None = None
    overflows: float | None = None

    @classmethod
    def from_phase(cls, requests: int, phase: PhaseSummary) -> Summary:
        """The headline summary from the `whole` phase's values."""
        values = {name: phase.values.get(name) for name in SUMMARY_METRICS}
        return cls(requests=requests, **values)


@dataclass(frozen=True)
class VerdictTally:
    """A run's verdicts counted (`RunRecord.verdict_tally`): `failed` is every verdict
    neither passed nor inconclusive, the `unjudged` ones among them."""

    passed: int
    failed: int
    inconclusive: int
    unjudged: int

    @property
    def verdicts(self) -> int:
        return self.passed + self.failed + self.inconclusive


class RunRecord(RecordModel):
    """run.json."""

    schema_version: int = SCHEMA_VERSION
    id: str
    experiment: ExperimentRef
    status: RunStatus = "running"
    started_at: str
    """ISO 8601 UTC, e.g. '2026-11-27T15:40:00Z'."""
    ended_at: str | None = None
    duration_s: float | None = None
    runtime: str = "local"
    target: TargetRef | None = None
    """The external target the run was against (additive); None for a deployment
    meshproof made, and in records that predate it."""
    mode: Literal["mesh", "no-mesh"] = "mesh"
    environment: Environment = Environment()
    metrics_source: MetricsSource = "prometheus"
    phases: list[PhaseRecord] = []
    faults: list[FaultEvent] = []
    verdicts: list[Verdict] = []
    summary: Summary = Summary()
    phase_summaries: list[PhaseSummary] = []
    """Every phase's metrics (additive to schema 1; empty in records that predate it)."""
    traces: TraceSummary | None = None
    """Trace completeness details (additive to schema 1); None when no spans were read."""
    forward: ForwardRecord | None = None
    """Span forwarding to the user's endpoint (additive); None when not asked for."""
    error: str | None = None
    """Why the run was aborted or could not be done."""
    harness: HarnessProcess | None = None
    """Who carries the run out (additive); None in records that predate it, whose
    `running` cannot be checked."""
    tables: list[str] = Field(default_factory=list)
    """The Parquet tables written next to run.json, e.g. ['requests', 'windows']."""
    host: HostDisturbance | None = None
    """The host's disturbance over the whole run (the `whole` phase's)."""
    hdr: HdrPrecision | None = None
    """The precision of the `hdr_*` percentiles; None when no histograms were recorded."""
    dialect: DialectRecord | None = None
    """The metric dialect of the run (None in records that predate dialects: `meshproof`)."""
    load_workers: list[LoadWorker] = []
    notes: list[str] = []
    """What the run noted beside its verdicts (the terminal's `note:` lines: a fault cut
    short, a rollback that failed, metrics that could not be read)."""
    """The Locust workers and what reached the master from each (empty in records that
    predate it)."""
    wakeups: int | None = None
    """The wake-ups in a row one request meets in this deployment, against which the host's
    disturbance is weighed (`harness.judge.disturbance`); None in records that predate it."""
    cpu: CpuSplit | None = None
    """The measured part's CPU by sidecars, apps, harness and the rest (additive); None
    without resource samples."""

    @property
    def stopped(self) -> bool:
        """The run did not run its timeline to the end: aborted (a signal) or an error."""
        return self.status in ("aborted", "error")

    @property
    def declared_slos(self) -> int:
        """How many SLOs the experiment declares (its verdicts come when the run ends)."""
        slos = self.experiment.spec.get("slos")
        return max(len(slos) if isinstance(slos, list) else 0, len(self.verdicts))

    def unjudged(self, verdict: Verdict) -> bool:
        """Whether the run stopped before it could judge `verdict`: a stopped run's SLO of
        a phase it never reached, or of one it cut short before anything was measured
        (shown NOT JUDGED; junit.xml skips it). The run's error says what happened. Also
        a verdict whose metric was never measured (`Verdict.unmeasured`), in any run."""
        if verdict.unmeasured:
            return True
        if not self.stopped:
            return False
        return verdict.value is None or verdict.phase not in {p.name for p in self.phases}

    def verdict_tally(self) -> VerdictTally:
        """Passed, failed, inconclusive and not judged (`unjudged`) verdicts: what `list`,
        the status line and the Runs page count."""
        passed = sum(v.passed for v in self.verdicts)
        inconclusive = sum(v.outcome == "inconclusive" for v in self.verdicts)
        failed = len(self.verdicts) - passed - inconclusive
        unjudged = sum(self.unjudged(v) for v in self.verdicts)
        return VerdictTally(passed, failed, inconclusive, unjudged)

    @field_validator("id")
    @classmethod
    def _one_folder_name(cls, value: str) -> str:
        # compare names its report folder after the ids: never a path out of reports/
        if value in (".", "..") or any(c in value for c in "/\\\0"):
            raise ValueError(f"expected a run id (a folder name), got {value!r}")
        return value

    @field_validator("started_at", "ended_at")
    @classmethod
    def _iso_time(cls, value: str | None) -> str | None:
        # runs are sorted and drawn by these: a time no reader can parse is refused here
        if value is not None:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(
                    f"expected an ISO 8601 time like '2026-11-27T15:40:00Z', got {value!r}"
                ) from None
        return value

    def whole_phase(self) -> PhaseRecord | None:
        """The measured part of the run (everything after warm-up)."""
        return next((p for p in self.phases if p.name == str(WHOLE)), None)

    def phase_summary(self, phase: Phase | str) -> PhaseSummary | None:
        """The summary of `phase` (a Phase, or its text as run.json keeps it)."""
        name = str(phase)
        return next((p for p in self.phase_summaries if p.phase == name), None)
