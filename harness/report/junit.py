"""junit.xml: one testsuite per run, one testcase per SLO, as CI systems read it.

`<testsuites>` holds one `<testsuite name=<experiment>>` with the counts CI systems
read (`tests`, `failures`, `errors`, `skipped`, `time`) and the run's properties. Each
SLO is a `<testcase classname=<experiment> name=<SLO text>>`; a failed SLO carries
`<failure message="measured ..., threshold ...">`, an inconclusive one (the host was too
noisy to judge it) is `<skipped message="inconclusive: ...">` naming the disturbance. A
run that was aborted or could not be done adds a testcase `run` with an `<error>`, and an
SLO of a phase it stopped before (a fault it never reached) is `<skipped message="not
judged: ...">`: the run's error is the failure, not an SLO it could not measure.

`JUnitSuite` builds that document; `meshproof compare` (and `validate-upgrade`) and
`meshproof gate` use it too, with testcases of their own (a metric, an SLO, a metric's
history). When they refuse their input (exit 2), `refusal_xml` is their junit.xml: one
testcase named after the command with an `<error>` saying why, so that a CI test report
shows the reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from harness.report.text import format_measured, format_threshold, verdict_line, verdict_reason
from harness.store.model import RunRecord, Verdict


class JUnitSuite:
    """One `<testsuite>` whose testcases are added one by one, counted as they come."""

    def __init__(self, name: str, properties: Mapping[str, str] | None = None) -> None:
        self.name = name
        self._suite = ET.Element("testsuite", name=name)
        if properties:
            element = ET.SubElement(self._suite, "properties")
            for key, value in properties.items():
                ET.SubElement(element, "property", name=key, value=value)
        self._counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def passed(self, case: str) -> None:
        self._case(case, None)

    def failed(self, case: str, message: str, kind: str, text: str | None = None) -> None:
        """A `<failure>`; its text is `message` unless told otherwise."""
        failure = ET.SubElement(self._case(case, "failures"), "failure", message=message, type=kind)
        failure.text = message if text is None else text

    def error(self, case: str, message: str, kind: str) -> None:
        error = ET.SubElement(self._case(case, "errors"), "error", message=message, type=kind)
        error.text = message

    def skipped(self, case: str, reason: str) -> None:
        ET.SubElement(self._case(case, "skipped"), "skipped", message=reason)

    def verdict(self, case: str, verdict: Verdict, message: str) -> None:
        """An SLO's verdict: passed; skipped when inconclusive (the host too noisy); else
        an `SLOViolation` failure saying `message`, its text the verdict line."""
        if verdict.outcome == "pass":
            self.passed(case)
        elif verdict.outcome == "inconclusive":
            self.skipped(case, inconclusive_message(verdict))
        else:
            self.failed(case, message, "SLOViolation", verdict_line(verdict))

    def document(self, name: str, time: str = "0", **attributes: str) -> str:
        """The junit.xml text: this suite (with `attributes`) inside `<testsuites name=name>`."""
        counts = {key: str(self._counts[key]) for key in ("tests", "failures", "errors")}
        skipped = str(self._counts["skipped"])
        self._suite.attrib.update({**counts, "skipped": skipped, "time": time, **attributes})
        root = ET.Element("testsuites", {"name": name, "time": time, **counts})
        root.append(self._suite)
        ET.indent(root)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode")
            + "\n"
        )

    def _case(self, case: str, outcome: str | None) -> ET.Element:
        self._counts["tests"] += 1
        if outcome is not None:
            self._counts[outcome] += 1
        return ET.SubElement(self._suite, "testcase", classname=self.name, name=case, time="0")


def junit_xml(record: RunRecord) -> str:
    """The JUnit XML text of a run record."""
    suite = JUnitSuite(record.experiment.name, _properties(record))
    reached = {phase.name for phase in record.phases}
    for verdict in record.verdicts:
        if verdict.unmeasured:
            suite.skipped(verdict.slo, f"not judged: {verdict.reason}")
        elif record.unjudged(verdict):
            phase = repr(verdict.phase)
            where = (
                f"before phase {phase}"
                if verdict.phase not in reached
                else f"in phase {phase} before it measured {verdict.metric}"
            )
            suite.skipped(verdict.slo, f"not judged: the run was {record.status} {where}")
        else:
            suite.verdict(verdict.slo, verdict, _failure_message(verdict))
    if record.stopped:
        suite.error("run", record.error or f"the run was {record.status}", record.status)
    return suite.document(
        "meshproof",
        time=f"{record.duration_s or 0.0:.3f}",
        timestamp=record.started_at.removesuffix("Z"),
        hostname=record.environment.hostname or "localhost",
    )


def refusal_xml(command: str, subject: str, message: str, kind: str) -> str:
    """junit.xml of `meshproof COMMAND` refusing its input: suite `<command> <subject>`
    (the command's usual suite name when `subject` is the experiment), one testcase
    `command` with an `<error message=message type=kind>`: it could not run, not a failure."""
    suite = JUnitSuite(f"{command} {subject}")
    suite.error(command, message, kind)
    return suite.document(f"meshproof {command}")


def _properties(record: RunRecord) -> dict[str, str]:
    return {
        "run_id": record.id,
        "title": record.experiment.title,
        "status": record.status,
        "runtime": record.runtime,
        "mode": record.mode,
        "metrics_source": record.metrics_source,
    }


def inconclusive_message(verdict: Verdict) -> str:
    """Why a verdict is a skipped test case: the host was too noisy to judge it, or (no
    disturbance named) its reason: a count the scrapes cannot place in its phase."""
    measured = f"measured {format_measured(verdict)}, threshold {format_threshold(verdict)}"
    if not verdict.disturbance:
        return f"inconclusive: {verdict.reason} ({measured})"
    return f"inconclusive: the host was too noisy to judge ({measured}; {verdict.disturbance})"


def _failure_message(verdict: Verdict) -> str:
    message = f"measured {format_measured(verdict)}, threshold {format_threshold(verdict)}"
    return f"{message} ({verdict_reason(verdict)})" if verdict.reason else message
