"""A lost Locust worker in run.json (`load_workers`) and in report.md."""

from __future__ import annotations

from harness.engine.results import load_workers
from harness.load.workers import WorkerReport
from harness.report.markdown import markdown_report
from harness.store import ExperimentRef, RunRecord


def _record(reports: list[WorkerReport]) -> RunRecord:
    return RunRecord(
        id="r1",
        experiment=ExperimentRef(name="e"),
        started_at="2026-12-04T07:00:00Z",
        load_workers=load_workers(reports, t0=1000.0),
    )


def test_a_lost_worker_is_named_with_its_unsent_share_in_run_json_and_the_report() -> None:
    reports = [
        WorkerReport(0, "host_a1", records=500, share=500, status="done"),
        WorkerReport(1, "host_b2", records=120, share=500, status="lost", lost_at=1004.5),
    ]
    record = _record(reports)
    lost = RunRecord.model_validate_json(record.model_dump_json()).load_workers[1]
    assert (lost.name, lost.status, lost.unsent, lost.lost_at_s) == (
        "w1 (host_b2)",
        "lost",
        380,
        4.5,
    )
    text = markdown_report(record)
    assert "## Load workers" in text
    assert "| w1 (host_b2) | lost | 500 | 120 | 380 | 4.5 s |" in text


def test_the_report_shows_no_worker_table_when_every_worker_finished() -> None:
    record = _record([WorkerReport(0, "host_a1", records=500, share=500, status="done")])
    assert record.load_workers[0].unsent == 0
    assert "## Load workers" not in markdown_report(record)
