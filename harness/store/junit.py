"""junit.xml: one testsuite per run, one testcase per SLO, as CI systems read it.

`<testsuites>` holds one `<testsuite name=<experiment>>` with the counts CI systems
read (`tests`, `failures`, `errors`, `skipped`, `time`) and the run's properties. Each
SLO is a `<testcase classname=<experiment> name=<SLO text>>`; a failed SLO carries
`<failure message="measured ..., threshold ...">`. A run that was aborted or could not
be done adds a testcase `run` with an `<error>` naming why.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.store.model import RunRecord, Verdict
from harness.store.text import format_measured, format_threshold, verdict_line


def junit_xml(record: RunRecord) -> str:
    """The JUnit XML text of a run record."""
    name = record.experiment.name
    suite = ET.Element("testsuite", name=name)
    properties = ET.SubElement(suite, "properties")
    for key, value in _properties(record).items():
        ET.SubElement(properties, "property", name=key, value=value)
    failures = 0
    for verdict in record.verdicts:
        failures += _testcase(suite, name, verdict)
    errors = 0
    if record.status in ("aborted", "error"):
        errors = 1
        case = ET.SubElement(suite, "testcase", classname=name, name="run", time="0")
        message = record.error or f"the run was {record.status}"
        ET.SubElement(case, "error", message=message, type=record.status).text = message
    tests = len(record.verdicts) + errors
    time = f"{record.duration_s or 0.0:.3f}"
    counts = {"tests": str(tests), "failures": str(failures), "errors": str(errors)}
    suite.attrib.update({**counts, "skipped": "0", "time": time})
    suite.set("timestamp", record.started_at.removesuffix("Z"))
    suite.set("hostname", record.environment.hostname or "localhost")
    root = ET.Element("testsuites", {"name": "meshproof", "time": time, **counts})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _properties(record: RunRecord) -> dict[str, str]:
    return {
        "run_id": record.id,
        "title": record.experiment.title,
        "status": record.status,
        "runtime": record.runtime,
        "mode": record.mode,
        "metrics_source": record.metrics_source,
    }


def _testcase(suite: ET.Element, classname: str, verdict: Verdict) -> int:
    case = ET.SubElement(suite, "testcase", classname=classname, name=verdict.slo, time="0")
    if verdict.passed:
        return 0
    measured = format_measured(verdict)
    message = f"measured {measured}, threshold {format_threshold(verdict)}"
    if verdict.reason:
        message += f" ({verdict.reason})"
    failure = ET.SubElement(case, "failure", message=message, type="SLOViolation")
    failure.text = verdict_line(verdict)
    return 1
