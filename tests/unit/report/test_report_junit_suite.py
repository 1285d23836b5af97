"""JUnitSuite: the junit.xml document a run, compare and gate share (harness.report.junit)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.report.junit import JUnitSuite


def test_junit_suite_counts_each_outcome_on_both_levels() -> None:
    """passed/failed/error/skipped cases are counted on the suite and on <testsuites>."""
    suite = JUnitSuite("gate x", {"verdict": "Fail"})
    suite.passed("p50")
    suite.failed("p99", "p99 went up", "Regression")
    suite.error("run", "aborted", "aborted")
    suite.skipped("cpu", "no data")
    root = ET.fromstring(suite.document("meshproof gate", time="1.5", hostname="h"))
    (parsed,) = root.findall("testsuite")
    assert root.attrib == {
        "name": "meshproof gate", "time": "1.5", "tests": "4", "failures": "1", "errors": "1"
    }  # fmt: skip
    assert parsed.get("skipped") == "1" and parsed.get("hostname") == "h"
    assert [c.get("name") for c in parsed.findall("testcase")] == ["p50", "p99", "run", "cpu"]
    assert {c.get("classname") for c in parsed.findall("testcase")} == {"gate x"}
    failure = parsed.find("testcase/failure")
    assert failure is not None and failure.get("type") == "Regression"
    assert failure.get("message") == failure.text == "p99 went up"
    assert parsed.find("properties/property[@name='verdict']") is not None


def test_junit_suite_document_starts_with_the_xml_declaration() -> None:
    """The text is UTF-8 XML with its declaration, ending in a newline."""
    text = JUnitSuite("compare x").document("meshproof compare")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')
    assert text.endswith("</testsuites>\n") or text.endswith("/>\n")
