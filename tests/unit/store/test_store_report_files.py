"""The pieces compare and gate share with the run's own reports: junit_document, write_files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.store.junit import JUnitCounts, add_failure, junit_document
from harness.store.writer import write_files
from mesh_runtime.errors import InvalidInput


def test_junit_document_puts_the_counts_on_both_levels() -> None:
    """The suite and <testsuites> carry tests/failures/errors; skipped and extras on the suite."""
    suite = ET.Element("testsuite", name="gate x")
    case = ET.SubElement(suite, "testcase", classname="gate x", name="p99", time="0")
    add_failure(case, "p99 went up", "Regression")
    counts = JUnitCounts(tests=3, failures=1, skipped=2)
    text = junit_document("meshproof gate", suite, counts, time="1.5", hostname="h")
    root = ET.fromstring(text)
    (parsed,) = root.findall("testsuite")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    assert root.attrib == {
        "name": "meshproof gate", "time": "1.5", "tests": "3", "failures": "1", "errors": "0"
    }  # fmt: skip
    assert parsed.get("skipped") == "2" and parsed.get("hostname") == "h"
    failure = parsed.find("testcase/failure")
    assert failure is not None and failure.get("type") == "Regression"
    assert failure.get("message") == failure.text == "p99 went up"


def test_write_files_writes_each_file_into_a_new_folder(tmp_path: Path) -> None:
    """The folder is made; every file holds its text; the paths come back in order."""
    folder = tmp_path / "a" / "b"
    written = write_files(folder, {"x.md": "# x\n", "x.json": "{}\n"}, "the report")
    assert written == [folder / "x.md", folder / "x.json"]
    assert (folder / "x.md").read_text(encoding="utf-8") == "# x\n"


def test_write_files_that_cannot_be_written_is_one_invalid_input(tmp_path: Path) -> None:
    """A folder that is a file gives InvalidInput naming the folder and what was written."""
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(InvalidInput, match="cannot write the gate report") as caught:
        write_files(blocker / "out", {"gate.md": ""}, "the gate report")
    assert str(blocker / "out") in str(caught.value)
