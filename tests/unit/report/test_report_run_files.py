"""junit.xml and report.md of the fixture run (harness.report.junit / markdown), and the
run notes the HTML report shares with report.md."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.report.html import render_html
from harness.report.junit import junit_xml
from harness.report.markdown import markdown_report
from harness.report.text import (
    fault_rows,
    headline_rows,
    no_faults_text,
    phase_rows,
    plural,
    slo_tally,
    tally_text,
    verdict_line,
    verdict_rows,
)
from harness.store import StoredRun, load_run
from tests.fixtures.make_run import make_run, note_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture run, written once for this module."""
    return make_run(tmp_path_factory.mktemp("reports"))


def test_junit_has_one_suite_and_one_case_per_slo(run_dir: Path) -> None:
    """testsuites > testsuite(name=experiment) > testcase per SLO, with CI's counts."""
    record = load_run(run_dir)
    root = ET.parse(run_dir / "junit.xml").getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert suite.get("name") == "catalog-503"
    assert [c.get("name") for c in cases] == [v.slo for v in record.verdicts]
    assert {c.get("classname") for c in cases} == {"catalog-503"}
    failed = [c for c in cases if c.find("failure") is not None]
    assert suite.get("tests") == str(len(cases)) and root.get("tests") == str(len(cases))
    assert suite.get("failures") == str(len(failed)) == "1"
    assert suite.get("errors") == "0"
    assert float(suite.get("time") or "nan") == pytest.approx(45.0)


def test_junit_failure_message_names_value_and_threshold(run_dir: Path) -> None:
    """A failed SLO's message has the measured value and the threshold."""
    root = ET.parse(run_dir / "junit.xml").getroot()
    failure = root.find(".//failure")
    assert failure is not None
    assert failure.get("message") == "measured 8 %, threshold < 2 %"


def test_junit_of_an_aborted_run_has_an_error_case(run_dir: Path) -> None:
    """An aborted run adds a 'run' testcase with an <error>, counted in errors."""
    record = load_run(run_dir).model_copy(update={"status": "aborted", "error": "SIGINT"})
    root = ET.fromstring(junit_xml(record))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    error = root.find(".//testcase[@name='run']/error")
    assert error is not None and error.get("message") == "SIGINT"


def test_junit_of_a_run_stopped_before_a_phase_skips_that_phases_slos(run_dir: Path) -> None:
    """An SLO of a phase the stopped run never reached is skipped, not a failure: CI
    counts the run's error once, not once more for each SLO it could not measure."""
    record = load_run(run_dir)
    unreached = record.verdicts[0].model_copy(
        update={"phase": "during:never", "value": None, "passed": False, "outcome": "fail"}
    )
    stopped = record.model_copy(
        update={"status": "aborted", "error": "SIGINT", "verdicts": [unreached]}
    )
    root = ET.fromstring(junit_xml(stopped))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("0", "1", "1")
    skipped = root.find(f".//testcase[@name='{unreached.slo}']/skipped")
    assert skipped is not None
    assert skipped.get("message") == ("not judged: the run was aborted before phase 'during:never'")
    finished = stopped.model_copy(update={"status": "failed", "error": None})
    assert ET.fromstring(junit_xml(finished)).find(".//failure") is not None


def test_a_stopped_runs_unmeasured_slos_read_not_judged_everywhere(run_dir: Path) -> None:
    """A stopped run's SLO of a phase it never reached, or of one it cut short before it
    measured anything, reads NOT JUDGED in the terminal line, the verdict table (report.md,
    HTML, dashboard) and junit.xml; a measured verdict of the same run keeps its word."""
    record = load_run(run_dir)
    first = record.verdicts[0]
    unreached = first.model_copy(
        update={"phase": "during:never", "value": None, "passed": False, "outcome": "fail"}
    )
    cut_short = first.model_copy(update={"value": None, "passed": False, "outcome": "fail"})
    measured = first.model_copy(update={"value": 1.0, "passed": False, "outcome": "fail"})
    verdicts = [unreached, cut_short, measured]
    stopped = record.model_copy(
        update={"status": "aborted", "error": "aborted: SIGINT", "verdicts": verdicts}
    )
    assert [stopped.unjudged(v) for v in verdicts] == [True, True, False]
    assert [row[4] for row in verdict_rows(stopped)] == ["NOT JUDGED", "NOT JUDGED", "FAIL"]
    assert verdict_line(unreached, stopped.unjudged(unreached)).startswith("NOT JUDGED ")
    assert verdict_line(measured, stopped.unjudged(measured)).startswith("FAIL ")
    suite = ET.fromstring(junit_xml(stopped)).find("testsuite")
    assert suite is not None and (suite.get("skipped"), suite.get("failures")) == ("2", "1")
    cut = [c for c in suite.findall("testcase") if c.find("skipped") is not None][1]
    message = cut.find("skipped").get("message")  # type: ignore[union-attr]
    assert message == (
        f"not judged: the run was aborted in phase {first.phase!r} before it measured"
        f" {first.metric}"
    )
    finished = stopped.model_copy(update={"status": "failed", "error": None})
    assert not any(finished.unjudged(v) for v in verdicts)
    assert [row[4] for row in verdict_rows(finished)] == ["FAIL"] * 3


def test_a_finished_runs_slo_on_a_counter_never_measured_reads_not_judged(run_dir: Path) -> None:
    """An SLO whose counter's family Prometheus never had (`Verdict.unmeasured`) reads NOT
    JUDGED in a run that ran to its end: the verdict table, the terminal line, junit.xml
    (skipped, with the verdict's reason), never FAIL."""
    record = load_run(run_dir)
    reason = "no data: Prometheus has no series of x_total during the run; ..."
    unmeasured = record.verdicts[0].model_copy(
        update={"value": None, "passed": False, "outcome": "fail", "reason": reason,
                "unmeasured": True}
    )  # fmt: skip
    finished = record.model_copy(update={"status": "inconclusive", "verdicts": [unmeasured]})
    assert finished.unjudged(unmeasured)
    assert [row[4] for row in verdict_rows(finished)] == ["NOT JUDGED"]
    assert verdict_line(unmeasured, finished.unjudged(unmeasured)).startswith("NOT JUDGED ")
    suite = ET.fromstring(junit_xml(finished)).find("testsuite")
    assert suite is not None and (suite.get("skipped"), suite.get("failures")) == ("1", "0")
    skipped = suite.find("testcase/skipped")
    assert skipped is not None and skipped.get("message") == f"not judged: {reason}"


def test_report_md_names_a_stopped_runs_status_once(run_dir: Path) -> None:
    """run.json's error of an aborted run starts 'aborted: ' already: report.md does not
    say 'aborted: aborted: ...'; an error run's reason gets its status before it."""
    record = load_run(run_dir)
    aborted = record.model_copy(
        update={"status": "aborted", "error": "aborted: interrupted by SIGINT"}
    )
    assert "- **aborted: interrupted by SIGINT**" in markdown_report(aborted)
    failed = record.model_copy(update={"status": "error", "error": "toxiproxy-server not found"})
    assert "- **error: toxiproxy-server not found**" in markdown_report(failed)


def test_report_md_has_verdicts_numbers_phases_faults_and_chart(run_dir: Path) -> None:
    """report.md: title, status, verdict table, headline, phases, faults, linked PNG."""
    text = (run_dir / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# One catalog replica answers 503 for 10 s")
    assert "**Status: FAILED**" in text
    assert (
        "| max_error_rate_1s < 0.02 during:catalog-503 | during:catalog-503 | 8 % | < 2 % | **FAIL** |"
        in text
    )
    assert "| p99_ms |" in text and "| during:catalog-503 | 15.0 | 25.0 |" in text
    assert "| catalog-503 | service_behaviour | `catalog-0` | 15.0 | 25.0 | 1.0 s |" in text
    assert "![timeline" in text and "(timeline.png)" in text
    assert "## Traces" in text and "| incomplete trace | missing spans |" in text
    assert (run_dir / "timeline.png").read_bytes().startswith(b"\x89PNG")


def test_fixture_run_tables_follow_the_contract(run_dir: Path) -> None:
    """Every table of DEVELOPING.md is there with its columns."""
    run = StoredRun(run_dir)
    expected = {
        "requests": {"intended_s", "sent_s", "latency_ms", "corrected_ms", "status", "bytes",
                     "route", "method", "trace_id", "error", "phase"},
        "windows": {"second", "rps", "error_rate", "p50_ms", "p90_ms", "p99_ms", "p999_ms",
                    "corrected_p99_ms", "phase"},
        "metrics": {"t_s", "metric", "labels", "value"},
        "resources": {"t_s", "role", "name", "pid", "cpu_s", "cpu_cores", "rss_mb"},
        "spans": {"trace_id", "span_id", "parent_span_id", "name", "kind", "service", "instance",
                  "start_ns", "end_ns", "status_code", "attributes"},
        "events": {"t_s", "kind", "name", "detail"},
    }  # fmt: skip
    for name, columns in expected.items():
        assert columns <= set(run.table(name).columns), name
    assert run.record.tables == list(expected)


def test_fixture_run_summary_reflects_the_fault(run_dir: Path) -> None:
    """The fault phase has errors, retries and ejections; recovery is measured."""
    record = load_run(run_dir)
    during = record.phase_summary("during:catalog-503")
    before = record.phase_summary("before")
    assert during is not None and before is not None
    assert (during.values["error_rate"] or 0) > 0.02 > (before.values["error_rate"] or 0)
    assert during.values["ejections"] == 2
    assert (during.values["retries_per_krequests"] or 0) > 0
    assert during.values["recovery_s"] == pytest.approx(1.0)
    assert 0.95 < (record.summary.trace_completeness or 0) < 1.0
    assert record.traces is not None and record.traces.orphan_traces == 5
    assert record.traces.examples and record.traces.examples[0]["missing"]
    assert record.summary.requests == 2000


def test_phase_and_fault_rows_are_the_tables_of_report_md(run_dir: Path) -> None:
    """report.md's phase and fault tables hold exactly the shared rows (target as code)."""
    record = load_run(run_dir)
    text = (run_dir / "report.md").read_text(encoding="utf-8")
    phases = phase_rows(record)
    assert [row[0] for row in phases] == [p.name for p in record.phases]
    assert all(f"| {' | '.join(row)} |" in text for row in phases)
    (fault,) = fault_rows(record)
    assert fault[:3] == ["catalog-503", "service_behaviour", "catalog-0"]
    assert f"| {' | '.join([*fault[:2], '`catalog-0`', *fault[3:]])} |" in text
    assert headline_rows(record)[0] == ["requests", str(record.summary.requests)]


def test_report_md_says_its_trace_counts_include_warm_up(run_dir: Path) -> None:
    """The Traces section's counts are run.json's, over every request: it says so, since
    the headline's completeness (after warm-up) beside it differs."""
    record = load_run(run_dir)
    text = (run_dir / "report.md").read_text(encoding="utf-8")
    assert record.traces is not None
    assert record.traces.requests > (record.summary.requests or 0)
    assert (
        f"{record.traces.complete} of {record.traces.requests} requests answered 2xx "
        "(warm-up included) have a complete trace" in text
    )


def test_the_slo_tally_says_what_was_not_decided() -> None:
    """'6/7'; inconclusive and not judged named; a run with no verdicts yet counts the
    SLOs its experiment declares (it said 0/0 of a stopped run with 3 SLOs)."""
    assert tally_text(slo_tally("failed", 6, 7, 0, 0, 7)) == "6/7"
    assert tally_text(slo_tally("inconclusive", 5, 7, 2, 0, 7)) == "5/7 (2 inconclusive)"
    assert tally_text(slo_tally("aborted", 1, 3, 0, 2, 3), "SLOs passed") == (
        "1/3 SLOs passed (2 not judged)"
    )
    assert tally_text(slo_tally("aborted", 0, 0, 0, 0, 3)) == "0/3 (3 not judged)"
    assert tally_text(slo_tally("running", 0, 0, 0, 0, 3)) == "0/3 (judged when the run ends)"
    assert tally_text(slo_tally("passed", 0, 0, 0, 0, 0)) == "0/0"


def test_a_run_without_faults_applied_says_why(run_dir: Path) -> None:
    """'No faults in this run.' only when the experiment declares none; a run still going
    or stopped before its faults says so (it said there were none)."""
    record = load_run(run_dir)
    declared = len(record.experiment.spec["faults"])
    assert declared == 1
    running = record.model_copy(update={"status": "running", "faults": []})
    assert no_faults_text(running) == "The run is still going: its fault is listed when it ends."
    stopped = record.model_copy(update={"status": "aborted", "faults": []})
    assert no_faults_text(stopped) == "The run stopped (aborted) before it applied its fault."
    assert "before it applied its fault" in markdown_report(stopped)
    spec = {**record.experiment.spec, "faults": []}
    bare = stopped.model_copy(
        update={"experiment": record.experiment.model_copy(update={"spec": spec})}
    )
    assert no_faults_text(bare) == "No faults in this run."
    assert (plural(1, "run"), plural(3, "run")) == ("1 run", "3 runs")


def test_report_md_says_a_run_was_scaled_and_what_it_noted(run_dir: Path) -> None:
    """A `--duration` run's report names the file's own length, and the run's notes (a
    fault cut short: its SLOs may PASS on part of what they were meant to prove) are in
    report.md, not only on the terminal that ran it."""
    record = load_run(run_dir)
    note = "fault roll (rolling_restart) was cut short by the end of the run before it was done"
    experiment = record.experiment.model_copy(update={"scaled_from_s": 65.0})
    scaled = record.model_copy(update={"experiment": experiment, "notes": [note]})
    text = markdown_report(scaled)
    assert "- scaled with --duration from the experiment file's own 65s" in text
    assert f"- note: {note}" in text
    plain = markdown_report(record)
    assert "scaled with" not in plain and "- note:" not in plain


def test_html_report_shows_a_scaled_run_s_notes_under_its_headline(
    run_dir: Path, tmp_path: Path
) -> None:
    """`report --html` of a `--duration` run: report.md's lines (scaled from 65s, each note)
    under the headline, before the verdicts, as text (a note's `<b>` is no markup); a run
    neither scaled nor noted has no notes list."""
    noted = shutil.copytree(run_dir, tmp_path / run_dir.name)
    note = "fault roll (rolling_restart) was cut short: <b>partial</b> & early"
    note_run(noted, [note], scaled_from_s=65.0)
    page = render_html(noted)
    notes = (
        '<ul class="run-notes"><li>scaled with --duration from the experiment file&#x27;s own '
        "65s</li><li>note: fault roll (rolling_restart) was cut short: "
        "&lt;b&gt;partial&lt;/b&gt; &amp; early</li></ul>"
    )
    assert notes in page
    assert page.index("<h1>") < page.index(notes) < page.index("<h2>SLO verdicts</h2>")
    assert "<b>partial</b>" not in page
    assert 'class="run-notes"' not in render_html(run_dir)


def test_junit_names_an_inconclusive_count_s_reason_not_the_host(run_dir: Path) -> None:
    """A count the scrapes cannot place is skipped with its own reason: 'the host was too
    noisy' would send a reader to the wrong cause."""
    record = load_run(run_dir)
    reason = "the mesh's counter is scraped every 1 s: its events next to the phase's start ..."
    edge = record.verdicts[0].model_copy(
        update={"outcome": "inconclusive", "passed": False, "reason": reason, "disturbance": ""}
    )
    suite = ET.fromstring(junit_xml(record.model_copy(update={"verdicts": [edge]})))
    skipped = suite.find("testsuite/testcase/skipped")
    assert skipped is not None
    message = skipped.get("message") or ""
    assert message.startswith(f"inconclusive: {reason} (measured ")
    assert "too noisy" not in message


def test_a_no_data_verdict_says_no_data_once(run_dir: Path) -> None:
    """The judge's reason 'no data: no spans were collected' beside a missing value reads
    'no data (no spans were collected)' in report.md, the HTML verdict table and junit.xml's
    failure, never 'no data (no data: ...)'; a measured value keeps its reason whole."""
    record = load_run(run_dir)
    missing = record.verdicts[0].model_copy(
        update={"value": None, "passed": False, "outcome": "fail",
                "reason": "no data: no spans were collected"}
    )  # fmt: skip
    measured = record.verdicts[0].model_copy(update={"reason": "no data: kept as written"})
    run = record.model_copy(update={"verdicts": [missing, measured]})
    report = markdown_report(run)
    assert "no data (no spans were collected)" in report
    assert "no data (no data:" not in report
    assert "(no data: kept as written)" in report
    assert verdict_rows(run)[0][2] == "no data (no spans were collected)"  # the HTML table's
    failure = ET.fromstring(junit_xml(run)).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message", "").endswith("(no spans were collected)")
