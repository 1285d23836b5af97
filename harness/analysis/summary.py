"""Per-phase summaries: every metric of `harness.spec.slo.METRICS` that can be computed.

`summarize(...)` returns a `PhaseSummary` per phase (`harness.store.model`), keyed by
phase name. Requests belong to a phase by intended send time (half-open interval), so
overlapping faults share requests. A metric that cannot be computed is None, with the
reason in `PhaseSummary.notes`; never 0.

- `rps`: the achieved rate, answers received in the phase / its duration (by the time the
  answer arrived; `target_rps` is the schedule's intended rate over the phase, when the
  load spec is known); `error_rate`: failed (status >= 500 or no answer) / sent;
- `late_share`: share of the phase's requests that left more than `LATE_BOUND_MS` after
  their intended time; `max_send_lag_ms` the largest lag. When the load fell behind its
  schedule (`harness.spec.load.fell_behind`), `notes["load"]` says by how much;
- `p*_ms` service time, `corrected_p*_ms` from the intended send, over every request
  with a measured latency (exact percentiles, `harness.analysis.stats`), each with its
  95 % confidence interval in `intervals` (what the phase's number of requests can tell);
- `max_error_rate_1s`: the highest error rate of the one-second windows that overlap
  the phase; `shed_p99_ms`: p99 service time of the requests answered 503;
- `recovery_s`: `during:<fault>` and `after:<fault>` that fault's recovery; `after` and
  `whole` the slowest recovery of all faults (`harness.analysis.recovery`); its note
  says what was checked and what held from when (or what still failed), also when there
  is a value;
- `sidecar_cpu_per_krps` (summed sidecar cores per 1000 requests per second through the
  sidecars, Istio's measure), `sidecar_rps` (that rate, from `istio_requests_total`),
  `sidecar_rss_mb`, `retries_per_krequests`, `ejections`, `overflows`:
  `harness.analysis.signals`; `trace_completeness`: `harness.analysis.traces`;
- `overhead_p99_ms` needs a deployment without the mesh: the engine fills it in when the
  experiment has `target.compare_to`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from harness.analysis.order import CHUNK_ROWS, interval_rows, send_times
from harness.analysis.phases import in_phase
from harness.analysis.recovery import Criteria, recover, recovery_criteria
from harness.analysis.signals import (
    counter_increase,
    counter_surely_in,
    cpu_per_krps,
    scrape_lag,
    series_max,
    series_mean_sum,
    sidecar_cpu_cores,
    sidecar_request_rate,
    sidecar_rss_mb,
)
from harness.analysis.stats import PERCENTILES, optional, percentile, percentile_intervals
from harness.analysis.traces import TraceReport, completeness_of
from harness.analysis.windows import failed_mask, send_lag_ms
from harness.load.schedule import Schedule
from harness.observe.dialects import MESHPROOF, BoundDialect, Signal
from harness.spec.load import LATE_BOUND_MS, fell_behind
from harness.spec.phase import AFTER, WHOLE, Phase
from harness.spec.slo import SLO
from harness.store.model import FaultEvent, PhaseRecord, PhaseSummary

CORRECTED = {
    "corrected_p50_ms": 0.5,
    "corrected_p90_ms": 0.9,
    "corrected_p99_ms": 0.99,
    "corrected_p999_ms": 0.999,
}
PHASE_COLUMNS = ("intended_s", "sent_s", "latency_ms", "corrected_ms", "status")
"""The request columns a phase's metrics read (besides `trace_id`, for trace completeness)."""
OPEN_ENDED = "the fault lasted until the end of the run"
NO_METRICS = "no metrics were scraped in this phase"
NO_SIDECARS = "no sidecar process was sampled in this phase"
Values = dict[str, float | None]
Notes = dict[str, str]


@dataclass(frozen=True, eq=False)
class RunFrames:
    """What a run measured: requests (with or without `phase`) and the observers' frames."""

    requests: pd.DataFrame
    windows: pd.DataFrame
    resources: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    traces: TraceReport | None = None
    schedule: Schedule | None = None
    """The load's intended schedule (for `target_rps`); None when unknown."""
    dialect: BoundDialect = field(default_factory=MESHPROOF.bind)
    """The metric dialect the metrics were queried in: which rows hold which signal, and
    why a signal the mesh cannot give has no value."""


def summarize(
    frames: RunFrames,
    phases: Sequence[PhaseRecord],
    faults: Sequence[FaultEvent],
    slos: Sequence[SLO],
    criteria: Mapping[str, Criteria] | None = None,
) -> dict[str, PhaseSummary]:
    """A summary per phase, in the order of `phases`; `criteria` each fault's recovery
    conditions (`harness.analysis.recovery.experiment_criteria`), else the SLOs'."""
    recoveries = fault_recoveries(frames.windows, phases, faults, slos, criteria)
    lag = counters_lag(frames)  # the run's, not a phase's: read once
    return {p.name: summarize_phase(frames, p, recoveries, lag) for p in phases}


def summarize_phase(
    frames: RunFrames,
    phase: PhaseRecord,
    recoveries: Mapping[str, tuple[float | None, str]],
    lag_s: float | None = None,
) -> PhaseSummary:
    """Every metric of one phase; `lag_s` the counters' scrape lag (`counters_lag`, read
    here when not given)."""
    requests = _phase_requests(frames, phase)
    values: Values = {}
    notes: Notes = {}
    _traffic(requests, phase, values, notes)
    _achieved(frames, phase, values, notes)
    _lag(requests, values, notes)
    _windows(frames.windows, phase, values, notes)
    _recovery(phase, recoveries, values, notes)
    _overhead(frames, requests, phase, values, notes)
    _traces(frames.traces, requests, values, notes)
    values["overhead_p99_ms"] = None
    notes["overhead_p99_ms"] = "needs a deployment without the mesh (target.compare_to)"
    lag = counters_lag(frames) if lag_s is None else lag_s
    bounds = _count_bounds(frames, phase, values, len(requests), lag)
    return PhaseSummary(
        phase=phase.name,
        start_s=phase.start_s,
        end_s=phase.end_s,
        values=values,
        notes=notes,
        bounds=bounds,
        intervals=_intervals(requests, values),
        scrape_lag_s=lag,
    )


def counters_lag(frames: RunFrames) -> float | None:
    """How far the run's counter samples may trail their times (`signals.scrape_lag`, read
    off the proxied-requests counter); None without metrics to read it from."""
    proxied = frames.dialect.query("proxied_requests")
    if frames.metrics is None or proxied is None:
        return None
    return scrape_lag(frames.metrics, proxied)


def _count_bounds(
    frames: RunFrames, phase: PhaseRecord, values: Values, sent: int, lag: float | None
) -> dict[str, tuple[float, float]]:
    """metric -> (fewest surely in the phase, value) of the counted metrics whose value may
    hold events of the phase before (`signals.counter_surely_in`); one whose value is
    surely the phase's is left out."""
    if frames.metrics is None or lag is None:
        return {}
    bounds: dict[str, tuple[float, float]] = {}
    for signal, metric in COUNTED_METRICS.items():
        query, value = frames.dialect.query(signal), values.get(metric)
        fewest = counter_surely_in(frames.metrics, query, phase, lag) if query else None
        if signal == "retries" and fewest is not None:
            fewest = _per_krequests(fewest, sent)
        if fewest is not None and value is not None and fewest < value:
            bounds[metric] = (fewest, value)
    return bounds


def _per_krequests(count: float | None, sent: int) -> float | None:
    """`count` per 1000 of the phase's `sent` requests; None without either."""
    return count / (sent / 1000) if count is not None and sent else None


def _phase_requests(frames: RunFrames, phase: PhaseRecord) -> pd.DataFrame:
    """The phase's requests, with only the columns its metrics read: taking every text
    column of a run of millions of requests once per phase is most of the summary's time
    and memory. Trace ids are kept only when there is a trace report to look them up in."""
    requests = frames.requests
    wanted = [*PHASE_COLUMNS, *(["trace_id"] if frames.traces is not None else [])]
    columns = [name for name in wanted if name in requests.columns]
    rows = interval_rows(send_times(requests), phase.start_s, phase.end_s)
    if rows is not None:  # in send order: the phase is one slice, taken without a copy
        return requests.iloc[rows][columns]
    return requests.loc[in_phase(requests["intended_s"], phase), columns]


def _traffic(requests: pd.DataFrame, phase: PhaseRecord, values: Values, notes: Notes) -> None:
    duration = phase.end_s - phase.start_s
    answered = int((requests["status"] != 0).sum())
    values["rps"] = answered / duration if duration > 0 and len(requests) else None
    values["error_rate"] = float(failed_mask(requests).mean()) if len(requests) else None
    for name, q in PERCENTILES.items():
        values[name] = percentile(requests["latency_ms"], q)
    for name, q in CORRECTED.items():
        values[name] = percentile(requests["corrected_ms"], q)
    values["shed_p99_ms"] = percentile(requests.loc[requests["status"] == 503, "latency_ms"], 0.99)
    if values["shed_p99_ms"] is None:
        notes["shed_p99_ms"] = "no request was answered 503 in this phase"
    if requests.empty:
        for name in ("rps", "error_rate", *PERCENTILES, *CORRECTED):
            notes[name] = "no requests were sent in this phase"


def _intervals(requests: pd.DataFrame, values: Values) -> dict[str, tuple[float, float]]:
    """Every latency percentile's 95 % confidence interval over the phase's requests,
    widened to hold its value: of 25 requests, the true p99.9 is above them all with 97.5 %
    confidence (the interval is the largest, twice), but their interpolated p99.9 is not."""
    found = {
        **percentile_intervals(requests["latency_ms"], PERCENTILES),
        **percentile_intervals(requests["corrected_ms"], CORRECTED),
    }
    return {
        name: (min(low, value), max(high, value))
        for name, (low, high) in found.items()
        if (value := values.get(name)) is not None
    }


def _achieved(frames: RunFrames, phase: PhaseRecord, values: Values, notes: Notes) -> None:
    """`rps` as achieved: answers that arrived in the phase; `target_rps` as scheduled."""
    duration = phase.end_s - phase.start_s
    if duration <= 0:
        values["target_rps"] = None
        notes["target_rps"] = "the phase has no length"
        return
    if values.get("rps") is not None:
        values["rps"] = _arrived_in(frames.requests, phase) / duration
    if frames.schedule is None:
        values["target_rps"] = None
        notes["target_rps"] = "the load's schedule is not known to this analysis"
    else:
        values["target_rps"] = (
            frames.schedule.expected_between(phase.start_s, phase.end_s) / duration
        )


def _arrived_in(requests: pd.DataFrame, phase: PhaseRecord) -> int:
    """How many answers arrived (actual send + service time) in the phase, counted a
    block of rows at a time: an arrival time per request of a whole run is never held."""
    status = requests["status"].to_numpy()
    sent = requests["sent_s"].to_numpy(dtype="float64")
    latency = requests["latency_ms"].to_numpy(dtype="float64")
    count = 0
    for first in range(0, len(requests), CHUNK_ROWS):
        rows = slice(first, first + CHUNK_ROWS)
        answered = status[rows] != 0
        arrived = sent[rows][answered] + latency[rows][answered] / 1000.0
        count += int(((arrived >= phase.start_s) & (arrived < phase.end_s)).sum())
    return count


def _lag(requests: pd.DataFrame, values: Values, notes: Notes) -> None:
    """How late the phase's requests left; a note when the load fell behind its schedule."""
    if requests.empty:
        values["late_share"] = values["max_send_lag_ms"] = None
        notes["late_share"] = notes["max_send_lag_ms"] = "no requests were sent in this phase"
        return
    lag = send_lag_ms(requests)
    late = float((lag > LATE_BOUND_MS).mean())
    values["late_share"] = late
    values["max_send_lag_ms"] = float(lag.max())
    if fell_behind(late, float(lag.max())):
        notes["load"] = fell_behind_text(late, float(lag.max()))


def fell_behind_text(late_share: float, max_lag_ms: float) -> str:
    """'the load fell behind its schedule by up to 16.4 s (37 % of requests late)'."""
    lag = f"{max_lag_ms / 1000:.1f} s" if max_lag_ms >= 1000 else f"{max_lag_ms:.0f} ms"
    return (
        f"the load fell behind its schedule by up to {lag}"
        f" ({late_share:.1%} of requests left more than {LATE_BOUND_MS:g} ms late)"
    )


def _windows(windows: pd.DataFrame, phase: PhaseRecord, values: Values, notes: Notes) -> None:
    second = windows["second"]
    overlapping = windows[(second + 1 > phase.start_s) & (second < phase.end_s)]
    values["max_error_rate_1s"] = optional(overlapping["error_rate"].max())
    if values["max_error_rate_1s"] is None:
        notes["max_error_rate_1s"] = "no one-second window with requests in this phase"


def fault_recoveries(
    windows: pd.DataFrame,
    phases: Sequence[PhaseRecord],
    faults: Sequence[FaultEvent],
    slos: Sequence[SLO],
    criteria: Mapping[str, Criteria] | None = None,
) -> dict[str, tuple[float | None, str]]:
    """Fault name -> (recovery_s, what was checked and found: `Recovery.explain()`)."""
    default = recovery_criteria(slos)
    run_end = max((p.end_s for p in phases), default=0.0)
    out: dict[str, tuple[float | None, str]] = {}
    for fault in faults:
        if fault.end_s is None or fault.end_s >= run_end:
            out[fault.name] = (None, OPEN_ENDED)
            continue
        found = recover(windows, fault.end_s, (criteria or {}).get(fault.name, default))
        out[fault.name] = (found.seconds, found.explain())
    return out


def _recovery(
    phase: PhaseRecord,
    recoveries: Mapping[str, tuple[float | None, str]],
    values: Values,
    notes: Notes,
) -> None:
    judged = Phase.parse(phase.name)
    if judged.fault:
        value, why = recoveries.get(judged.fault, (None, "no such fault"))
    elif judged in (AFTER, WHOLE) and _ended(recoveries):
        ended = _ended(recoveries)
        missing = [f"{name}: {why}" for name, (v, why) in ended.items() if v is None]
        known = [v for v, _ in ended.values() if v is not None]
        if missing:
            value, why = None, "; ".join(missing)
        elif len(ended) == 1:
            value, why = known[0], next(iter(ended.values()))[1]
        else:
            value, why = max(known), "; ".join(f"{name}: {w}" for name, (_, w) in ended.items())
    else:
        value, why = None, "no fault ended in this phase"
    values["recovery_s"] = value
    if why:
        notes["recovery_s"] = why


def _ended(
    recoveries: Mapping[str, tuple[float | None, str]],
) -> dict[str, tuple[float | None, str]]:
    """The faults that ended before the run did (a setup policy left on is not one)."""
    return {name: r for name, r in recoveries.items() if r[1] != OPEN_ENDED}


def _overhead(
    frames: RunFrames, requests: pd.DataFrame, phase: PhaseRecord, values: Values, notes: Notes
) -> None:
    _sidecars(frames, phase, values, notes)
    retries = _signal_increase(frames, "retries", phase, notes, "retries_per_krequests")
    sent = len(requests)
    values["retries_per_krequests"] = _per_krequests(retries, sent)
    values["ejections"] = _signal_increase(frames, "ejections", phase, notes)
    values["overflows"] = _signal_increase(frames, "overflows", phase, notes)
    for name in ("retries_per_krequests", "ejections", "overflows"):
        if values[name] is None:
            notes.setdefault(name, NO_METRICS)


COUNTED_METRICS: dict[Signal, str] = {
    "retries": "retries_per_krequests",
    "ejections": "ejections",
    "overflows": "overflows",
}
"""The metric each counted signal (`harness.observe.dialects.COUNTED`) gives."""


def unmeasured_metrics(dialect: BoundDialect) -> set[str]:
    """The metrics the run never measured: those of counters whose family Prometheus had
    no series of (`BoundDialect.unseen`); their SLOs are not judged."""
    return {COUNTED_METRICS[s] for s in dialect.unseen if s in COUNTED_METRICS}


def _signal_increase(
    frames: RunFrames, signal: Signal, phase: PhaseRecord, notes: Notes, name: str = ""
) -> float | None:
    """A counter signal's increase in the phase; None, with the dialect's reason, when the
    mesh's metrics cannot give it."""
    query = frames.dialect.query(signal)
    if query is None:
        notes[name or signal] = frames.dialect.no_data(signal) or NO_METRICS
        return None
    return counter_increase(frames.metrics, query, phase)


def _sidecars(frames: RunFrames, phase: PhaseRecord, values: Values, notes: Notes) -> None:
    """Sidecar CPU per 1000 RPS through the sidecars (Istio's measure), their RPS and RSS."""
    cores, rss_mb, missing = _sidecar_usage(frames, phase)
    proxied_query = frames.dialect.query("proxied_requests")
    proxied = sidecar_request_rate(frames.metrics, phase, proxied_query) if proxied_query else None
    values["sidecar_rps"] = proxied
    values["sidecar_cpu_per_krps"] = cpu_per_krps(cores, proxied)
    values["sidecar_rss_mb"] = rss_mb
    if proxied is None:
        notes["sidecar_rps"] = frames.dialect.no_data("proxied_requests") or NO_METRICS
    if cores is None:
        notes["sidecar_cpu_per_krps"] = missing
    elif proxied is None:
        notes["sidecar_cpu_per_krps"] = (
            f"{NO_METRICS}: the requests through the sidecars ({proxied_query}) are unknown"
        )
    elif not proxied:
        notes["sidecar_cpu_per_krps"] = (
            f"{proxied_query} did not grow in this phase: no request went through a sidecar"
        )
    if rss_mb is None:
        notes["sidecar_rss_mb"] = missing


def _sidecar_usage(frames: RunFrames, phase: PhaseRecord) -> tuple[float | None, float | None, str]:
    """Summed sidecar cores and the largest sidecar memory (MB), and why they are missing:
    from the resource sampler (processes or containers meshproof runs), else from the
    dialect's cAdvisor series (a mesh someone else runs)."""
    cores = sidecar_cpu_cores(frames.resources, phase)
    rss_mb = sidecar_rss_mb(frames.resources, phase)
    if cores is not None or rss_mb is not None:
        return cores, rss_mb, NO_SIDECARS
    cpu_query = frames.dialect.query("sidecar_cpu_cores")
    memory_query = frames.dialect.query("sidecar_memory_bytes")
    if cpu_query is None or memory_query is None:
        return None, None, NO_SIDECARS
    cores = series_mean_sum(frames.metrics, cpu_query, phase)
    memory = series_max(frames.metrics, memory_query, phase)
    rss_mb = None if memory is None else memory / (1024 * 1024)
    why = f"{NO_SIDECARS}, and Prometheus has no cAdvisor series of the sidecar container"
    return cores, rss_mb, f"{why} ({cpu_query}; {memory_query})"


def _traces(
    report: TraceReport | None, requests: pd.DataFrame, values: Values, notes: Notes
) -> None:
    values["trace_completeness"] = completeness_of(report, requests)
    if values["trace_completeness"] is None:
        notes["trace_completeness"] = (
            "no spans were collected" if report is None else "no request answered 2xx"
        )
