"""An inconclusive verdict in junit.xml, report.md, the verdict line and `list` (harness.report)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.report.deltas import verdicts_side_by_side
from harness.report.html import write_html
from harness.report.junit import junit_xml
from harness.report.markdown import markdown_report
from harness.report.text import verdict_line
from harness.store import load_run
from harness.store.model import RunRecord
from harness.store.reader import list_runs
from tests.fixtures.make_run import make_run

NOISE = "scheduling lag p50 0.09 / p99 9.7 / max 26 ms, foreign CPU 1.80 cores: may have moved p99_ms by up to 40 ms (34 wake-ups a request)"  # fmt: skip


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunRecord]:
    """The fixture run with its first verdict turned inconclusive, status inconclusive."""
    run_dir = make_run(tmp_path_factory.mktemp("reports"))
    record = load_run(run_dir)
    first = record.verdicts[0].model_copy(
        update={"outcome": "inconclusive", "passed": False, "disturbance": NOISE}
    )
    others = [v.model_copy(update={"outcome": "pass", "passed": True}) for v in record.verdicts[1:]]
    record = record.model_copy(update={"verdicts": [first, *others], "status": "inconclusive"})
    (run_dir / "run.json").write_text(record.model_dump_json(indent=2), encoding="utf-8")
    return run_dir, record


def test_junit_skips_an_inconclusive_verdict_with_the_reason(noisy: tuple[Path, RunRecord]) -> None:
    """Inconclusive is a skipped test case naming the disturbance; nothing failed."""
    _, record = noisy
    root = ET.fromstring(junit_xml(record))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("skipped"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
    skipped = root.find(f".//testcase[@name='{record.verdicts[0].slo}']/skipped")
    assert skipped is not None
    message = skipped.get("message") or ""
    assert message.startswith("inconclusive: the host was too noisy to judge")
    assert "scheduling lag p50 0.09 / p99 9.7" in message


def test_report_md_and_the_verdict_line_say_inconclusive(noisy: tuple[Path, RunRecord]) -> None:
    """report.md marks the row INCONCLUSIVE and lists the disturbance; so does the line."""
    _, record = noisy
    text = markdown_report(record)
    assert "**Status: INCONCLUSIVE**" in text
    assert "| **INCONCLUSIVE** |" in text
    assert f"- `{record.verdicts[0].slo}`: {NOISE}" in text
    line = verdict_line(record.verdicts[0])
    assert line.startswith(f"INCONCLUSIVE {record.verdicts[0].slo}: measured")
    assert line.endswith(f"[host too noisy to judge: {NOISE}]")


def test_list_counts_inconclusive_apart_from_passed_and_failed(
    noisy: tuple[Path, RunRecord],
) -> None:
    """`list` shows status inconclusive; the SLO is neither passed nor failed."""
    run_dir, record = noisy
    (listing,) = list_runs(run_dir.parent)
    assert listing.status == "inconclusive"
    assert (listing.passed, listing.failed, listing.inconclusive) == (
        len(record.verdicts) - 1,
        0,
        1,
    )


def test_html_report_and_run_deltas_say_inconclusive(
    noisy: tuple[Path, RunRecord], tmp_path: Path
) -> None:
    """The self-contained HTML report and the run-vs-run verdict table show INCONCLUSIVE."""
    run_dir, record = noisy
    html = write_html(run_dir, tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'class="badge inconclusive">INCONCLUSIVE<' in html
    assert "<td>INCONCLUSIVE</td>" in html
    table = verdicts_side_by_side(record, record)
    assert "INCONCLUSIVE" in set(table.iloc[0].astype(str))
