"""report.md and the HTML report say where the run's spans were forwarded and what was lost."""

from __future__ import annotations

from pathlib import Path

from harness.report.html import render_html
from harness.report.markdown import markdown_report
from harness.store import load_run
from harness.store.model import ForwardRecord
from tests.fixtures.make_run import make_run


def test_forwarding_counts_are_in_both_reports(tmp_path: Path) -> None:
    """A run that forwarded: the URL, the run id mark and each count; none without it."""
    run_dir = make_run(tmp_path)
    record = load_run(run_dir)
    assert "Forwarded spans" not in markdown_report(record)
    forward = ForwardRecord(
        url="http://127.0.0.1:4318/v1/traces",
        attributes={"meshproof.run.id": record.id},
        sent=900,
        dropped=40,
        failed=60,
        exports=12,
        failed_exports=1,
        unsent=3,
        last_error="HTTP 503: busy",
    )
    forwarded = record.model_copy(update={"forward": forward})
    text = markdown_report(forwarded)
    line = (
        f"Spans forwarded to http://127.0.0.1:4318/v1/traces (meshproof.run.id={record.id}):"
        " 900 sent, 40 dropped (queue full), 60 refused for good,"
        " 3 still queued when the run ended; 1 of 12 exports failed. Last error: HTTP 503: busy."
    )
    assert f"## Forwarded spans\n\n{line}" in text
    (run_dir / "run.json").write_text(forwarded.model_dump_json())
    assert "900 sent, 40 dropped (queue full)" in render_html(run_dir)
