"""The gate for CI: junit.xml (a testcase per SLO and per headline metric), gate.md."""

from __future__ import annotations

from pathlib import Path

from harness.gate.gate import GateResult, MetricGate, failure_line, inconclusive_line
from harness.report.junit import JUnitSuite
from harness.report.text import format_value, verdict_line
from harness.store.deployment import other_deployments_line
from harness.store.writer import write_files


def _value(metric: str, value: float | None) -> str:
    return "-" if value is None else format_value(metric, value)


def _change(gate: MetricGate) -> str:
    if gate.relative is not None:
        return f"{gate.relative:+.1%}"
    return "-" if gate.delta is None else f"{gate.delta:+.4g}"


def history_line(result: GateResult) -> str:
    """'1 of 3 earlier runs: regression not judged', or how many runs the history held."""
    earlier = len(result.history)
    left_out = f"; {len(result.skipped)} unreadable left out" if result.skipped else ""
    if result.duplicates:
        copies = len(result.duplicates)
        left_out += f"; {copies} {'copy' if copies == 1 else 'copies'} of a run left out"
    if result.other_deployments:
        left_out += f"; {result.other_deployments} of other deployments left out"
    if not result.history_judged:
        return f"{earlier} of {result.min_history} earlier runs{left_out}: regression not judged"
    return f"history of {earlier} earlier runs{left_out}"


def skipped_lines(result: GateResult) -> list[str]:
    """One line per earlier run left out of the history: it could not be read, or it is
    a copy of a run the history holds (same run id); then one line counting the runs
    made against other deployments."""
    lines = [f"left out of the history, unreadable: {line}" for line in result.skipped]
    lines += [f"left out of the history, duplicate: {line}" for line in result.duplicates]
    if result.other_deployments:
        lines.append(other_deployments_line(result.other_deployments))
    return lines


def headline(result: GateResult) -> str:
    if result.outcome == "inconclusive":
        return (
            f"INCONCLUSIVE: {result.experiment} run {result.run}: the host was too noisy to"
            f" judge {len(result.inconclusive)} item(s), nothing failed"
        )
    if result.passed:
        return f"PASS: {result.experiment} run {result.run} ({history_line(result)})"
    text = f"FAIL: {result.experiment} run {result.run}: {len(result.failures)} problem(s)"
    return text if result.history_judged else f"{text}; {history_line(result)}"


REPORT_FILES = ("gate.md", "junit.xml", "gate.json")
"""What `write_outputs` writes; of them, a refused gate leaves junit.xml alone
(harness.cli.refusal)."""

HISTORY_COLUMNS = ("metric", "this run", "reference", "change", "judgment", "since")


def history_rows(result: GateResult, styles: dict[str, str]) -> list[list[str]]:
    """The console table of the history judgments (HISTORY_COLUMNS), judgments in `styles`."""
    rows = []
    for m in result.metrics:
        style = styles.get(m.status, "")
        rows.append(
            [
                m.metric,
                format_value(m.metric, m.current),
                _value(m.metric, m.reference),
                "-" if m.relative is None else f"{m.relative:+.1%}",
                f"[{style}]{m.status}[/]" if style else m.status,
                m.started_at or m.reason or "-",
            ]
        )
    return rows


def markdown(result: GateResult) -> str:
    """gate.md: the verdict, what failed, the SLOs and the history judgment per metric."""
    lines = [f"# Gate: {headline(result)}", ""]
    lines += [f"- **{line}**" for line in result.failures] or [
        "No SLO failed, no metric regressed."
    ]
    lines += [f"- INCONCLUSIVE: {line}" for line in result.inconclusive]
    lines += ["", "## SLOs", ""]
    lines += [
        f"- {verdict_line(v)}" if v.passed else f"- **{verdict_line(v)}**" for v in result.verdicts
    ]
    skipped = [f"- {line}" for line in skipped_lines(result)]
    if not result.history_judged:
        history = ["", "## History", "", history_line(result) + ".", *skipped]
        return "\n".join([*lines, *history]) + "\n"
    lines += [
        "",
        f"## History ({len(result.history)} earlier runs)",
        "",
        *([*skipped, ""] if skipped else []),
        tolerance_line(result),
        "",
        "| metric | this run | reference | change | p | judgment | since | tolerance | method |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |",
    ]
    for m in result.metrics:
        status = f"**{m.status}**" if m.status == "regression" else m.status
        p_value = "-" if m.p_value is None else f"{m.p_value:.3g}"
        tolerance = "-" if m.tolerance is None else f"±{_value(m.metric, m.tolerance)}"
        why = "; ".join(part for part in (m.method, m.reason) if part)
        lines.append(
            f"| `{m.metric}` | {_value(m.metric, m.current)} | {_value(m.metric, m.reference)} | {_change(m)} | "
            f"{p_value} | {status} | {m.started_at or '-'} | {tolerance} | {why} |"
        )
    return "\n".join(lines) + "\n"


def tolerance_line(result: GateResult) -> str:
    """Where the minimum magnitudes of the history judgment came from."""
    if result.calibration:
        return f"Tolerances from the {result.calibration} (`meshproof calibrate`)."
    return (
        "Tolerances: built-in defaults (no calibration of this experiment: `meshproof calibrate`)."
    )


def junit_xml(result: GateResult) -> str:
    suite = JUnitSuite(f"gate {result.experiment}")
    for verdict in result.verdicts:
        suite.verdict(f"slo: {verdict.slo}", verdict, verdict_line(verdict))
    for m in result.metrics:
        case = f"history: {m.metric}"
        if m.status == "regression":
            suite.failed(case, failure_line(m), "Regression")
        elif m.status == "inconclusive":
            suite.skipped(case, "inconclusive: " + inconclusive_line(m))
        elif m.status == "nodata":
            suite.skipped(case, m.reason or "no data")
        else:
            suite.passed(case)
    return suite.document("meshproof gate")


def write_outputs(result: GateResult, out_dir: Path) -> list[Path]:
    """REPORT_FILES in `out_dir`; the files written."""
    texts = (markdown(result), junit_xml(result), result.model_dump_json(indent=2) + "\n")
    return write_files(out_dir, dict(zip(REPORT_FILES, texts, strict=True)), "the gate report")
