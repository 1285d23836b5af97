"""The gate for CI: junit.xml (a testcase per SLO and per headline metric), gate.md."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.gate.gate import GateResult, MetricGate, failure_line
from harness.store.text import format_value, verdict_line
from mesh_runtime.errors import InvalidInput


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
            line = verdict_line(verdict)
            ET.SubElement(case, "failure", message=line, type="SLOViolation").text = line
    for m in result.metrics:
        case = ET.SubElement(
            suite, "testcase", classname=name, name=f"history: {m.metric}", time="0"
        )
        if m.status == "regression":
            failures += 1
            line = failure_line(m)
            ET.SubElement(case, "failure", message=line, type="Regression").text = line
        elif m.status == "nodata":
            skipped += 1
            ET.SubElement(case, "skipped", message=m.reason or "no data")
    tests = len(result.verdicts) + len(result.metrics)
    counts = {"tests": str(tests), "failures": str(failures), "errors": "0"}
    suite.attrib.update({**counts, "skipped": str(skipped), "time": "0"})
    root = ET.Element("testsuites", {"name": "meshproof gate", "time": "0", **counts})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_outputs(result: GateResult, out_dir: Path) -> list[Path]:
    files = {
        "gate.md": markdown(result),
        "junit.xml": junit_xml(result),
        "gate.json": result.model_dump_json(indent=2) + "\n",
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (out_dir / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            str(out_dir), "", f"cannot write the gate report: {exc.strerror}"
        ) from None
    return [out_dir / name for name in files]
