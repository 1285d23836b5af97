"""run.json's numbers against what no run can measure: `load_run` refuses such a record.

The model checks run.json's shape; this checks its meaning, and only what cannot be true
of any run meshproof writes, so a hand-edited or damaged record is not shown, compared
or gated on as if it had been measured. A value may be 0, and no data is null (the writer
writes no NaN). What a stopped run written before 2026-12-07 may hold is left alone: one
stopped in warm-up ended its `whole` phase before it started, and one stopped in the half
second before its load's t0 (picked ahead, as Locust spawns) had a negative `duration_s`
(now empty phases at the stop and 0 s); those two are checked only in a run that ran to
its end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from itertools import pairwise

from harness.store.model import RunRecord

RAN_TO_END = ("passed", "failed", "inconclusive")
"""Statuses of runs whose timeline ran to its end: their phases are the planned ones."""

SHARES = ("error_rate", "max_error_rate_1s", "late_share", "trace_completeness")
"""Metrics that are a share of requests, 0 to 1 (not a percentage)."""
ORDERED = (
    ("p50_ms", "p90_ms", "p99_ms", "p999_ms"),
    ("corrected_p50_ms", "corrected_p90_ms", "corrected_p99_ms", "corrected_p999_ms"),
)
"""Exact percentiles of one set of latencies, lowest first: none is below a lower one."""
HDR = ("hdr_p50_ms", "hdr_p90_ms", "hdr_p99_ms", "hdr_p999_ms")
HDR_CORRECTED = ("hdr_corrected_p50_ms", "hdr_corrected_p99_ms", "hdr_corrected_p999_ms")
NON_NEGATIVE = frozenset(
    {"requests", "rps", "target_rps", "max_send_lag_ms", "shed_p99_ms", *HDR, *HDR_CORRECTED}
    | {name for names in ORDERED for name in names}
)
"""Counts, rates and latencies (a request's lag is counted from 0: `send_lag_ms`)."""
TRACE_COUNTS = ("requests", "complete", "broken_parent_spans", "orphan_spans", "orphan_traces")
SLACK = 1e-9
"""Relative slack of the percentile order: interpolation may differ in the last bit."""


def first_impossible(record: RunRecord) -> tuple[str, str] | None:
    """(field path, problem) of the first number in `record` no run can have, or None."""
    return next(_impossible(record), None)


def _impossible(record: RunRecord) -> Iterator[tuple[str, str]]:
    yield from _times(record)
    yield from _values("summary", record.summary.model_dump())
    for i, summary in enumerate(record.phase_summaries):
        yield from _values(f"phase_summaries[{i}].values", summary.values)
        yield from _intervals(f"phase_summaries[{i}].intervals", summary.values, summary.intervals)
    for i, verdict in enumerate(record.verdicts):
        yield from _values(f"verdicts[{i}]", {verdict.metric: verdict.value}, "value")
    yield from _traces(record)


def _times(record: RunRecord) -> Iterator[tuple[str, str]]:
    if record.ended_at is not None and _moment(record.ended_at) < _moment(record.started_at):
        yield "ended_at", f"{record.ended_at} is before started_at {record.started_at}"
    for i, fault in enumerate(record.faults):
        if fault.end_s is not None and fault.end_s < fault.start_s:
            yield f"faults[{i}].end_s", _before(fault.end_s, fault.start_s)
    if record.status not in RAN_TO_END:
        return
    if record.duration_s is not None and record.duration_s < 0:
        yield (
            "duration_s",
            f"cannot be negative in a run that ran to its end, got {record.duration_s:g}",
        )
    spans = [(f"phases[{i}]", p.start_s, p.end_s) for i, p in enumerate(record.phases)]
    spans += [
        (f"phase_summaries[{i}]", p.start_s, p.end_s) for i, p in enumerate(record.phase_summaries)
    ]
    for where, start, end in spans:
        if end < start:
            yield f"{where}.end_s", _before(end, start)


def _before(end: float, start: float) -> str:
    return f"ends at {end:g} s, before it starts at {start:g} s"


def _moment(text: str) -> datetime:
    """An ISO 8601 time (the model checked it parses); one without a zone is UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _values(
    where: str, values: Mapping[str, object], field: str | None = None
) -> Iterator[tuple[str, str]]:
    """Problems of metric values (`field`: the one field they are kept in, else by name)."""
    numbers = {k: float(v) for k, v in values.items() if isinstance(v, int | float)}

    def path(metric: str) -> str:
        return f"{where}.{field or metric}"

    for metric, value in numbers.items():
        if metric in NON_NEGATIVE and value < 0:
            yield path(metric), f"cannot be negative, got {value:g}"
        elif metric in SHARES and not 0 <= value <= 1:
            yield path(metric), f"expected a share from 0 to 1, got {value:g}"
    for names in ORDERED:
        present = [(name, numbers[name]) for name in names if name in numbers]
        for (low, low_value), (high, high_value) in pairwise(present):
            if high_value < low_value - SLACK * abs(low_value):
                problem = (
                    f"{high_value:g} is below {low} {low_value:g} (percentiles cannot decrease)"
                )
                yield path(high), problem


def _intervals(
    where: str, values: Mapping[str, float | None], intervals: Mapping[str, tuple[float, float]]
) -> Iterator[tuple[str, str]]:
    """A percentile's confidence interval holds the percentile."""
    for metric, (low, high) in intervals.items():
        value = values.get(metric)
        slack = SLACK * max(abs(low), abs(high))
        if low > high + slack:
            yield f"{where}.{metric}", f"its low end {low:g} is above its high end {high:g}"
        elif value is not None and not low - slack <= value <= high + slack:
            yield f"{where}.{metric}", f"{low:g} to {high:g} does not hold its value {value:g}"


def _traces(record: RunRecord) -> Iterator[tuple[str, str]]:
    traces = record.traces
    if traces is None:
        return
    for name in TRACE_COUNTS:
        if getattr(traces, name) < 0:
            yield f"traces.{name}", f"cannot be negative, got {getattr(traces, name)}"
    if traces.complete > traces.requests:
        yield "traces.complete", f"{traces.complete} of only {traces.requests} requests judged"
