"""How numbers, verdicts and a run's tables read in reports, JUnit messages and the CLI."""

from __future__ import annotations

from harness.store.model import SUMMARY_METRICS, RunRecord, Verdict

HEADLINE_COLUMNS = ("metric", "value")
PHASE_COLUMNS = ("phase", "start s", "end s", "RPS", "error rate", "p99")
FAULT_COLUMNS = ("fault", "kind", "target", "start s", "end s", "recovery")


def format_value(metric: str, value: float | None) -> str:
    """'12.3 ms', '0.12 %', '3', 'no data' - a metric's value as an SRE reads it."""
    if value is None:
        return "no data"
    if metric.endswith("_ms"):
        return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"
    if metric.endswith("_s"):
        return f"{value:.1f} s"
    if metric in ("error_rate", "max_error_rate_1s", "trace_completeness"):
        return f"{value * 100:.3g} %"
    if metric in ("ejections", "overflows"):
        return f"{value:.0f}"
    if metric.endswith("_mb"):
        return f"{value:.1f} MB"
    return f"{value:.3g}"


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


def verdict_line(verdict: Verdict) -> str:
    """'FAIL p99_ms < 250 during:x: measured 312.4 ms, threshold < 250.0 ms'."""
    result = "PASS" if verdict.passed else "FAIL"
    measured = format_measured(verdict)
    text = f"{result} {verdict.slo}: measured {measured}, threshold {format_threshold(verdict)}"
    return f"{text} ({verdict.reason})" if verdict.reason else text


def headline_rows(record: RunRecord) -> list[list[str]]:
    """The whole run's numbers (HEADLINE_COLUMNS): requests, then every summary metric."""
    summary = record.summary.model_dump()
    rows = [["requests", str(record.summary.requests)]]
    return rows + [[name, format_value(name, summary.get(name))] for name in SUMMARY_METRICS]


def phase_rows(record: RunRecord) -> list[list[str]]:
    """A row per phase (PHASE_COLUMNS): its span, RPS, error rate and p99."""
    rows = []
    for phase in record.phases:
        summary = record.phase_summary(phase.name)
        values = summary.values if summary else {}
        span = [phase.name, f"{phase.start_s:.1f}", f"{phase.end_s:.1f}"]
        rows.append(
            span + [format_value(m, values.get(m)) for m in ("rps", "error_rate", "p99_ms")]
        )
    return rows


def fault_rows(record: RunRecord) -> list[list[str]]:
    """A row per fault (FAULT_COLUMNS): what, where, when, and its phase's recovery time."""
    rows = []
    for fault in record.faults:
        summary = record.phase_summary(f"during:{fault.name}")
        recovery = summary.values.get("recovery_s") if summary else None
        end = "-" if fault.end_s is None else f"{fault.end_s:.1f}"
        when = [f"{fault.start_s:.1f}", end, format_value("recovery_s", recovery)]
        rows.append([fault.name, fault.kind, fault.target, *when])
    return rows
