"""The gate for CI: junit.xml (a testcase per SLO and per headline metric), gate.md."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.gate.gate import GateResult, MetricGate, failure_line
from harness.store.junit import JUnitCounts, add_failure, junit_document
from harness.store.text import format_value, verdict_line
from harness.store.writer import write_files


def _value(metric: str, value: float | None) -> str:
    return "-" if value is None else format_value(metric, value)


def _change(gate: MetricGate) -> str:
    if gate.relative is not None:
        return f"{gate.relative:+.1%}"
    return "-" if gate.delta is None else f"{gate.delta:+.4g}"


def headline(result: GateResult) -> str:
    if result.passed:
        return f"PASS: {result.experiment} run {result.run} (history of {len(result.history)} runs)"
    return f"FAIL: {result.experiment} run {result.run}: {len(result.failures)} problem(s)"


def markdown(result: GateResult) -> str:
    """gate.md: the verdict, what failed, the SLOs and the history judgment per metric."""
    lines = [f"# Gate: {headline(result)}", ""]
    lines += [f"- **{line}**" for line in result.failures] or [
        "No SLO failed, no metric regressed."
    ]
    lines += ["", "## SLOs", ""]
    lines += [
        f"- {verdict_line(v)}" if v.passed else f"- **{verdict_line(v)}**" for v in result.verdicts
    ]
    lines += [
        "",
        f"## History ({len(result.history)} earlier runs)",
        "",
        "| metric | this run | reference | change | p | judgment | since | method |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for m in result.metrics:
        status = f"**{m.status}**" if m.status == "regression" else m.status
        p_value = "-" if m.p_value is None else f"{m.p_value:.3g}"
        lines.append(
            f"| `{m.metric}` | {_value(m.metric, m.current)} | {_value(m.metric, m.reference)} | {_change(m)} | "
            f"{p_value} | {status} | {m.started_at or '-'} | {m.method or m.reason} |"
        )
    return "\n".join(lines) + "\n"


def junit_xml(result: GateResult) -> str:
    name = f"gate {result.experiment}"
    suite = ET.Element("testsuite", name=name)
    failures = skipped = 0
    for verdict in result.verdicts:
        case = ET.SubElement(
            suite, "testcase", classname=name, name=f"slo: {verdict.slo}", time="0"
        )
        if not verdict.passed:
            failures += 1
            add_failure(case, verdict_line(verdict), "SLOViolation")
    for m in result.metrics:
        case = ET.SubElement(
            suite, "testcase", classname=name, name=f"history: {m.metric}", time="0"
        )
        if m.status == "regression":
            failures += 1
            add_failure(case, failure_line(m), "Regression")
        elif m.status == "nodata":
            skipped += 1
            ET.SubElement(case, "skipped", message=m.reason or "no data")
    tests = len(result.verdicts) + len(result.metrics)
    counts = JUnitCounts(tests=tests, failures=failures, skipped=skipped)
    return junit_document("meshproof gate", suite, counts)


def write_outputs(result: GateResult, out_dir: Path) -> list[Path]:
    """gate.md, junit.xml and gate.json in `out_dir`; the files written."""
    files = {
        "gate.md": markdown(result),
        "junit.xml": junit_xml(result),
        "gate.json": result.model_dump_json(indent=2) + "\n",
    }
    return write_files(out_dir, files, "the gate report")
