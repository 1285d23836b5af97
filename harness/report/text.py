"""How numbers, verdicts and a run's tables read in reports, JUnit messages and the CLI."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.spec.load import fell_behind
from harness.spec.phase import Phase
from harness.store.model import SUMMARY_METRICS, RunRecord, Summary, TargetRef, Verdict
from mesh_runtime.quantities import format_duration

HEADLINE_COLUMNS = ("metric", "value")
PHASE_COLUMNS = ("phase", "start s", "end s", "RPS", "error rate", "p99", "load")
RATE_TOLERANCE = 0.01
"""The intended rate is shown beside the achieved one when they differ by more than this."""
LOAD_METRICS = ("target_rps", "late_share", "max_send_lag_ms")
"""How the load kept its schedule: in the phase summaries and run.json's summary."""
FAULT_COLUMNS = ("fault", "kind", "target", "start s", "end s", "recovery")
METRICS_NONE = "stopped before any metrics"
"""Said in place of the metrics' source of a run stopped before it read any (`metrics_read`)."""


def plain_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[str] = ()
) -> list[str]:
    """A table as aligned plain-text lines (title, header, a line per row), every cell whole,
    however wide: for output that is no terminal (a CI log). Columns named in `right` are
    right-aligned; a cell's line breaks become spaces, so a row is always one line."""
    cells = [[" ".join(str(cell).split()) for cell in row] for row in rows]
    widths = [len(name) for name in columns]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(row: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if name in right else cell.ljust(width)
            for name, cell, width in zip(columns, row, widths, strict=True)
        ]
        return "  ".join(parts).rstrip()

    header = [title] if title else []
    return [*header, line(columns), *(line(row) for row in cells)]


def format_value(metric: str, value: float | None) -> str:
    """'12.3 ms', '0.12 %', '3', 'no data' - a metric's value as an SRE reads it."""
    if value is None:
        return "no data"
    if metric.endswith("_ms"):
        return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"
    if metric.endswith("_s"):
        return f"{value:.1f} s"
    if metric in ("error_rate", "max_error_rate_1s", "trace_completeness", "late_share"):
        return f"{value * 100:.3g} %"
    if metric in ("ejections", "overflows"):
        return f"{value:.0f}"
    if metric.endswith("_mb"):
        return f"{value:.1f} MB"
    return f"{value:.3g}"


def lag_text(ms: float | None) -> str:
    """A send lag: '312 ms', '16.4 s'."""
    if ms is None:
        return "no data"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def intended_rate(rps: float | None, target_rps: float | None) -> float | None:
    """The schedule's rate when the achieved one is off it (RATE_TOLERANCE), else None."""
    if rps is None or not target_rps or abs(rps - target_rps) <= RATE_TOLERANCE * target_rps:
        return None
    return target_rps


def rate_text(rps: float | None, target_rps: float | None) -> str:
    """The achieved rate, with the intended one beside it when they differ: '52.1 (intended 100)'."""
    achieved = format_value("rps", rps)
    intended = intended_rate(rps, target_rps)
    return (
        achieved if intended is None else f"{achieved} (intended {format_value('rps', intended)})"
    )


TILES = ("rps", "p99_ms", "error_rate", "trace_completeness", "sidecar_cpu_per_krps")
"""The headline numbers shown as tiles (the HTML report, the dashboard's Run page)."""


def summary_text(name: str, summary: Summary) -> str:
    """A number of run.json's summary as read; the RPS achieved, the intended one beside it
    when they differ."""
    if name == "rps":
        return rate_text(summary.rps, summary.target_rps)
    return format_value(name, getattr(summary, name, None))


def load_text(late_share: float | None, max_send_lag_ms: float | None) -> str:
    """How the load kept its schedule: 'on time', 'BEHIND: 37 % late, lag up to 16.4 s',
    or '-' for a run from before meshproof measured it."""
    if late_share is None:
        return "-"
    if not fell_behind(late_share, max_send_lag_ms):
        return "on time"
    return (
        f"BEHIND: {format_value('late_share', late_share)} late, "
        f"lag up to {lag_text(max_send_lag_ms)}"
    )


def behind_line(record: RunRecord) -> str | None:
    """One loud line when the load fell behind its schedule in any phase, else None:
    'LOAD FELL BEHIND its schedule: up to 16.4 s late, 37 % of requests late in during:x'."""
    behind = [
        s
        for s in record.phase_summaries
        if s.phase != "whole"
        and fell_behind(s.values.get("late_share"), s.values.get("max_send_lag_ms"))
    ]
    share, whole_lag = record.summary.late_share, record.summary.max_send_lag_ms
    if not behind and not fell_behind(share, whole_lag):
        return None
    lags = [s.values.get("max_send_lag_ms") for s in behind] + [whole_lag]
    worst = max((lag for lag in lags if lag is not None), default=None)
    where = (
        ", ".join(
            f"{format_value('late_share', s.values.get('late_share'))} of requests late in {s.phase}"
            for s in behind
        )
        or f"{format_value('late_share', share)} of requests late"
    )
    return (
        f"LOAD FELL BEHIND its schedule: requests left up to {lag_text(worst)} late, {where}; "
        "service time there understates what users waited (see corrected latency)"
    )


def run_notes(record: RunRecord) -> list[str]:
    """What a reader must know before trusting the run's numbers, one line each, in every
    report (report.md, `report`, the HTML, the dashboard): 'scaled with --duration from the
    experiment file's own 1m5s' when `run --duration` shortened it, then 'note: ...' per
    run note (a fault cut short by the end of the run, a rollback that failed); [] if none.
    First, for a run against an external target, which one (`target_line`)."""
    scaled = record.experiment.scaled_from_s
    lines = [] if record.target is None else [target_line(record.target)]
    if scaled is not None:
        own = format_duration(scaled)
        lines.append(f"scaled with --duration from the experiment file's own {own}")
    return lines + [f"note: {note}" for note in record.notes]


def target_line(target: TargetRef) -> str:
    """'target: staging-istio.yaml (staging-shop, istio, https://shop.staging.example)':
    the external target a run was against (run.json's experiment still holds the
    experiment file's own target)."""
    return f"target: {target.describe()}"


def format_threshold(verdict: Verdict) -> str:
    """'< 250.0 ms' - the threshold with its operator, in the metric's unit."""
    return f"{verdict.op} {format_value(verdict.metric, verdict.threshold)}"


def format_measured(verdict: Verdict) -> str:
    """The measured value, with more digits when rounding would make it read as the threshold."""
    text = format_value(verdict.metric, verdict.value)
    if verdict.value is None or verdict.value == verdict.threshold:
        return text
    if text != format_value(verdict.metric, verdict.threshold):
        return text
    unit = text.rpartition(" ")[2] if " " in text else ""
    scaled = verdict.value * 100 if unit == "%" else verdict.value
    return f"{scaled:.6g} {unit}".rstrip()


NO_DATA_PREFIX = "no data: "


def verdict_reason(verdict: Verdict) -> str:
    """The verdict's reason as shown beside its measured value: without the judge's
    leading 'no data: ' when the value is missing, since the value already reads 'no data'
    ('no data (no spans were collected)', not 'no data (no data: ...)')."""
    reason = verdict.reason
    if verdict.value is None and reason.startswith(NO_DATA_PREFIX):
        return reason[len(NO_DATA_PREFIX) :]
    return reason


RESULT_WORDS = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}
VERDICT_STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
"""A verdict line's colour in the terminal, by outcome (NOT JUDGED: yellow)."""


NOT_JUDGED = "NOT JUDGED"
"""The result of an SLO the stopped run could not judge (`RunRecord.unjudged`)."""


def result_word(verdict: Verdict, unjudged: bool = False) -> str:
    """PASS, FAIL or INCONCLUSIVE (the host was too noisy to judge it); NOT JUDGED when
    the run stopped before it could judge it."""
    return NOT_JUDGED if unjudged else RESULT_WORDS[verdict.outcome]


VERDICT_COLUMNS = ("SLO", "phase", "measured", "threshold", "result")


def verdict_rows(
    record: RunRecord, measured: Callable[[Verdict], str] | None = None
) -> list[list[str]]:
    """A row per SLO verdict (VERDICT_COLUMNS): the value measured (`measured(verdict)`, by
    default in the metric's unit) with why there was none, the threshold, the result word."""
    rows = []
    for v in record.verdicts:
        value = measured(v) if measured else format_value(v.metric, v.value)
        reason = f" ({verdict_reason(v)})" if v.reason else ""
        result = result_word(v, record.unjudged(v))
        rows.append([v.slo, v.phase, value + reason, format_threshold(v), result])
    return rows


def slo_tally(
    status: str, passed: int, verdicts: int, inconclusive: int, unjudged: int, declared: int
) -> tuple[str, str]:
    """('6/7', ''), ('5/7', '1 inconclusive'), ('1/3', '2 not judged'), ('0/3', 'judged
    when the run ends'): the SLOs passed of those judged (or declared, before any verdict),
    and what was not decided."""
    if not verdicts and declared:
        later = "judged when the run ends" if status == "running" else f"{declared} not judged"
        return f"0/{declared}", later
    notes = [f"{inconclusive} inconclusive"] if inconclusive else []
    notes += [f"{unjudged} not judged"] if unjudged else []
    return f"{passed}/{verdicts}", ", ".join(notes)


def tally_text(tally: tuple[str, str], passed: str = "") -> str:
    """'6/7', '1/3 (2 not judged)'; with `passed` ('SLOs passed') after the count."""
    count, notes = tally
    text = f"{count} {passed}" if passed else count
    return f"{text} ({notes})" if notes else text


def record_tally(record: RunRecord) -> tuple[str, str]:
    """`slo_tally` of a run record."""
    tally = record.verdict_tally()
    return slo_tally(
        record.status,
        tally.passed,
        tally.verdicts,
        tally.inconclusive,
        tally.unjudged,
        record.declared_slos,
    )


def no_faults_text(record: RunRecord) -> str:
    """What the faults section says when the run applied none: the experiment declares
    none, or the run is still going, or it stopped before the first."""
    faults = record.experiment.spec.get("faults")
    declared = len(faults) if isinstance(faults, list) else 0
    if not declared:
        return "No faults in this run."
    its, are, _ = _its(declared, "fault")
    if record.status == "running":
        return f"The run is still going: {its} {are} listed when it ends."
    return f"The run stopped ({record.status}) before it applied {its}."


def plural(count: int, noun: str) -> str:
    """'1 run', '3 runs'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _its(count: int, noun: str) -> tuple[str, str, str]:
    """('its SLO', 'is', 'was') for one, ('its 3 SLOs', 'are', 'were') for more."""
    if count == 1:
        return f"its {noun}", "is", "was"
    return f"its {plural(count, noun)}", "are", "were"


def no_verdicts_text(record: RunRecord) -> str:
    """What the verdicts section says when the run has none: the experiment declares no
    SLO, or the run is still going, or it stopped before they were judged."""
    declared = record.declared_slos
    if not declared:
        return "This experiment declares no SLOs."
    slos, are, were = _its(declared, "SLO")
    if record.status == "running":
        return f"The run is still going: {slos} {are} judged when it ends."
    return f"The run stopped ({record.status}) before {slos} {were} judged."


def stop_text(record: RunRecord) -> str:
    """'aborted: interrupted by SIGINT', 'error: analysis: ...': the run's status and its
    error, the status said once (an aborted run's error already starts 'aborted: ')."""
    prefix = f"{record.status}: "
    return prefix + (record.error or "").removeprefix(prefix)


def metrics_read(record: RunRecord) -> bool:
    """Whether the run read metrics from `record.metrics_source`: not one stopped before
    it wrote any (the source is only what it would have read)."""
    return "metrics" in record.tables or not record.stopped


def verdict_line(verdict: Verdict, unjudged: bool = False) -> str:
    """'FAIL p99_ms < 250 during:x: measured 312.4 ms, threshold < 250.0 ms'; an
    inconclusive verdict ends with the host's disturbance that could explain it; one the
    stopped run could not judge (`unjudged`) starts NOT JUDGED."""
    measured = format_measured(verdict)
    text = f"{result_word(verdict, unjudged)} {verdict.slo}: measured {measured}, threshold {format_threshold(verdict)}"
    if verdict.reason:
        text += f" ({verdict_reason(verdict)})"
    if verdict.outcome == "inconclusive" and verdict.disturbance:
        text += f" [host too noisy to judge: {verdict.disturbance}]"
    return text


def headline_rows(record: RunRecord) -> list[list[str]]:
    """The whole run's numbers (HEADLINE_COLUMNS): requests, then every summary metric, the
    RPS achieved with the intended one beside it, then how the load kept its schedule."""
    summary = record.summary
    rows = [["requests", str(summary.requests)]]
    rows += [
        [name, summary_text(name, summary)] for name in SUMMARY_METRICS if name not in LOAD_METRICS
    ]
    if summary.late_share is not None:
        rows.append(["late_share", format_value("late_share", summary.late_share)])
        rows.append(["max_send_lag_ms", lag_text(summary.max_send_lag_ms)])
    return rows


def phase_rows(record: RunRecord) -> list[list[str]]:
    """A row per phase (PHASE_COLUMNS): its span, RPS (achieved; intended beside it when
    they differ), error rate, p99, and whether the load kept its schedule."""
    rows = []
    for phase in record.phases:
        summary = record.phase_summary(phase.name)
        values = summary.values if summary else {}
        span = [phase.name, f"{phase.start_s:.1f}", f"{phase.end_s:.1f}"]
        rate = rate_text(values.get("rps"), values.get("target_rps"))
        numbers = [format_value(m, values.get(m)) for m in ("error_rate", "p99_ms")]
        load = load_text(values.get("late_share"), values.get("max_send_lag_ms"))
        rows.append([*span, rate, *numbers, load])
    return rows


def fault_rows(record: RunRecord) -> list[list[str]]:
    """A row per fault (FAULT_COLUMNS): what, where, when, and its phase's recovery time."""
    rows = []
    for fault in record.faults:
        summary = record.phase_summary(Phase.during(fault.name))
        recovery = summary.values.get("recovery_s") if summary else None
        end = "-" if fault.end_s is None else f"{fault.end_s:.1f}"
        when = [f"{fault.start_s:.1f}", end, format_value("recovery_s", recovery)]
        rows.append([fault.name, fault.kind, fault.target, *when])
    return rows
