"""junit.xml: one testsuite per run, one testcase per SLO, as CI systems read it.

`<testsuites>` holds one `<testsuite name=<experiment>>` with the counts CI systems
read (`tests`, `failures`, `errors`, `skipped`, `time`) and the run's properties. Each
SLO is a `<testcase classname=<experiment> name=<SLO text>>`; a failed SLO carries
`<failure message="measured ..., threshold ...">`. A run that was aborted or could not
be done adds a testcase `run` with an `<error>` naming why.

`junit_document` and `add_failure` are the same shape for `meshproof compare` and
`meshproof gate`, whose testcases are metrics and SLOs of their own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

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
    return junit_document(
        "meshproof",
        suite,
        JUnitCounts(tests=len(record.verdicts) + errors, failures=failures, errors=errors),
        time=f"{record.duration_s or 0.0:.3f}",
        timestamp=record.started_at.removesuffix("Z"),
        hostname=record.environment.hostname or "localhost",
    )


@dataclass(frozen=True)
class JUnitCounts:
    """The counts CI systems read from a `<testsuite>` and its `<testsuites>`."""

    tests: int
    failures: int
    errors: int = 0
    skipped: int = 0


def junit_document(
    name: str, suite: ET.Element, counts: JUnitCounts, time: str = "0", **extra: str
) -> str:
    """The junit.xml text: `suite` with its counts (and `extra` attributes), in `<testsuites>`."""
    totals = {"tests": str(counts.tests), "failures": str(counts.failures)}
    totals["errors"] = str(counts.errors)
    suite.attrib.update({**totals, "skipped": str(counts.skipped), "time": time, **extra})
    root = ET.Element("testsuites", {"name": name, "time": time, **totals})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def add_failure(case: ET.Element, message: str, kind: str) -> None:
    """A `<failure>` in `case` whose message is also its text."""
    ET.SubElement(case, "failure", message=message, type=kind).text = message


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
