"""A comparison for people and CI: rich table, compare.md, junit.xml (one testcase a metric)."""

from __future__ import annotations

import math
from pathlib import Path

from harness.compare.model import ComparisonResult, MetricResult
from harness.report.junit import JUnitSuite
from harness.store.writer import write_files
from mesh_runtime.quantities import significant

REPORT_FILES = ("compare.md", "junit.xml", "compare.json")
"""What `write_outputs` writes (compare and validate-upgrade); of them, a refusal leaves
junit.xml alone (harness.cli.refusal)."""

VERDICT_STYLE = {"Pass": "green", "Marginal": "yellow", "Fail": "red", "Inconclusive": "yellow"}
CLASS_STYLE = {"Pass": "green", "NoData": "magenta"}


def number(value: float | None, unit: str = "") -> str:
    """A value in its unit, short: '12.3 ms', '0.150 %', '-'."""
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "ratio":
        return f"{significant(value * 100)} %"
    text = significant(value, 4) if abs(value) >= 0.001 or value == 0 else f"{value:.2e}"
    return f"{text} {unit}".strip()


def signed(value: float | None, unit: str = "") -> str:
    text = number(value, unit)
    return text if value is None or value < 0 or text == "-" else f"+{text}"


def band(metric: MetricResult) -> str:
    if metric.low is None or metric.high is None or metric.p_value is None:
        return "-"
    return f"[{signed(metric.low, metric.unit)}, {signed(metric.high, metric.unit)}]"


def p_text(metric: MetricResult) -> str:
    return "-" if metric.p_value is None else f"{metric.p_value:.2g}"


def outcome(metric: MetricResult) -> str:
    """'High', 'Low (better)', 'Pass', 'NoData', with CRITICAL on a failed critical metric."""
    text: str = metric.classification
    if metric.inconclusive:
        return f"{text} INCONCLUSIVE"
    if text in ("High", "Low") and not metric.failed:
        text += " (better)"
    if metric.failed and metric.critical:
        text += " CRITICAL"
    return text


def headline(result: ComparisonResult) -> str:
    line = (
        f"{result.verdict}: score {result.score:g} ({result.passed}/{result.judged} metrics passed)"
    )
    if result.critical_failures:
        line += f"; critical metric failed: {', '.join(result.critical_failures)}"
    return line


def short(value: float | None, unit: str, sign: bool = False) -> str:
    """A table cell: 3 significant digits, ratios in %, no unit (the row names it)."""
    if value is None or not math.isfinite(value):
        return "-"
    scaled = value * 100 if unit == "ratio" else value
    text = significant(scaled, sign=sign)
    return text + "%" if unit == "ratio" else text


def table_rows(result: ComparisonResult) -> tuple[str, list[str], list[list[str]]]:
    """The console table: its title, columns and a row per metric (result cells in markup)."""
    runs = f"{' + '.join(result.baseline_runs)} vs {' + '.join(result.candidate_runs)}"
    columns = [
        "metric", "baseline", "candidate", "delta", f"{1 - result.alpha:.0%} band", "p", "unit",
    ]  # fmt: skip
    rows = []
    for m in result.metrics:
        style = (
            "red" if m.failed else CLASS_STYLE["NoData" if m.classification == "NoData" else "Pass"]
        )
        tested = m.low is not None and m.high is not None and m.p_value is not None
        interval = f"{short(m.low, m.unit, True)}..{short(m.high, m.unit, True)}" if tested else "-"
        rows.append(
            [
                m.metric,
                short(m.baseline, m.unit),
                short(m.candidate, m.unit),
                short(m.delta, m.unit, True),
                interval,
                p_text(m),
                unit_cell(m),
                f"[{style}]{outcome(m)}[/]",
            ]
        )
    return f"{result.experiment}: {runs}", [*columns, "result"], rows


NUMBER_COLUMNS = ("baseline", "candidate", "delta", "band", "p")
"""Right-aligned in the console table (the band's column is named by alpha: matched by suffix)."""


def right_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if c in NUMBER_COLUMNS or c.endswith(" band")]


def markdown(result: ComparisonResult) -> str:
    """compare.md."""
    lines = [
        f"# Comparison of {result.experiment}: {result.verdict}",
        "",
        f"**{headline(result)}**",
        "",
        f"- baseline: {', '.join(result.baseline_runs)} (sidecar {result.baseline_sidecar or '-'})",
        f"- candidate: {', '.join(result.candidate_runs)} (sidecar {result.candidate_sidecar or '-'})",
        f"- alpha {result.alpha:g}; a change passes unless significant and beyond its tolerance",
        f"- {tolerance_line(result)}",
        "- latency is tested on time windows (each window's median, or whole windows drawn by "
        "a block bootstrap), not on every request; the per-request shift is shown beside it",
        "",
        f"| metric | baseline | candidate | delta | {1 - result.alpha:.0%} band | p | unit | tolerance | result | method |",
        "| --- | ---: | ---: | ---: | --- | ---: | --- | ---: | --- | --- |",
    ]
    for m in result.metrics:
        result_text = f"**{outcome(m)}**" if m.failed else outcome(m)
        method = m.method or m.reason
        if m.request_shift is not None:
            method += f"; per request: {signed(m.request_shift, m.unit)}"
        lines.append(
            f"| `{m.metric}` | {number(m.baseline, m.unit)} | {number(m.candidate, m.unit)} | "
            f"{signed(m.delta, m.unit)} | {band(m)} | {p_text(m)} | {unit_cell(m)} | "
            f"{tolerance_cell(m)} | {result_text} | {method} |"
        )
    for note in result.notes:
        lines.append(f"\n_{note}_")
    return "\n".join(lines) + "\n"


def method_lines(result: ComparisonResult) -> list[str]:
    """For the printed table, which has no method column: a line per metric tested with
    Welch's t (windows too autocorrelated for ranks), its effective windows in it, since
    the unit column's window counts then overstate what was tested."""
    return [f"{m.metric}: {m.method}" for m in result.metrics if m.method.startswith("Welch's t")]


def tolerance_line(result: ComparisonResult) -> str:
    """Where the tolerances came from, for the report's head."""
    if result.calibration:
        return f"tolerances from the {result.calibration}"
    return (
        "tolerances: built-in defaults (no calibration of this experiment: `meshproof calibrate`)"
    )


def unit_cell(m: MetricResult) -> str:
    """'1 s windows, n=20 vs 20'."""
    return m.unit_text().removeprefix("unit: ") or "-"


def tolerance_cell(m: MetricResult) -> str:
    """'±0.9 ms (calibration)', '±1 ms (default)'."""
    if m.classification == "NoData":
        return "-"
    source = m.tolerance_source.split(" ", 1)[0]
    return (
        f"±{number(m.tolerance, m.unit)} ({source})"
        if source
        else f"±{number(m.tolerance, m.unit)}"
    )


def failure_message(m: MetricResult) -> str:
    return (
        f"{m.metric} {m.classification}: {number(m.baseline, m.unit)} -> {number(m.candidate, m.unit)} "
        f"(delta {signed(m.delta, m.unit)}, band {band(m)}, p={p_text(m)}, "
        f"tolerance ±{number(m.tolerance, m.unit)} from {m.tolerance_source or 'the rule'}; "
        f"{m.unit_text() or 'no unit'})"
    )


def junit_xml(result: ComparisonResult) -> str:
    """junit.xml: one testsuite, one testcase per metric; NoData metrics are skipped."""
    properties = {"verdict": result.verdict, "score": f"{result.score:g}"}
    suite = JUnitSuite(f"compare {result.experiment}", properties)
    for m in result.metrics:
        if m.classification == "NoData":
            suite.skipped(m.metric, m.reason or "no data")
        elif m.inconclusive:
            why = f"inconclusive: the hosts were too noisy to judge ({m.disturbance})"
            suite.skipped(m.metric, f"{failure_message(m)}; {why}")
        elif m.failed:
            kind = "CriticalRegression" if m.critical else "Regression"
            suite.failed(m.metric, failure_message(m), kind)
        else:
            suite.passed(m.metric)
    return suite.document("meshproof compare")


def write_outputs(result: ComparisonResult, out_dir: Path) -> list[Path]:
    """REPORT_FILES in `out_dir`; the files written."""
    texts = (markdown(result), junit_xml(result), result.model_dump_json(indent=2) + "\n")
    return write_files(out_dir, dict(zip(REPORT_FILES, texts, strict=True)), "the report")
