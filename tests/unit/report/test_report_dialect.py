"""report.md names the metrics dialect and every signal it has no data for, with why."""

from __future__ import annotations

from pathlib import Path

from harness.engine.observers import dialect_record
from harness.observe.dialects import LINKERD
from harness.report.markdown import markdown_report
from harness.store import load_run
from tests.fixtures.make_run import make_run


def test_report_lists_the_dialects_no_data_reasons(tmp_path: Path) -> None:
    """A Linkerd run: the section names the dialect and each NoData signal with its reason;
    a run without a dialect record (older runs) has no such section."""
    record = load_run(make_run(tmp_path))
    assert "## Metrics dialect" not in markdown_report(record)
    linkerd = record.model_copy(update={"dialect": dialect_record(LINKERD.bind())})
    text = markdown_report(linkerd)
    assert "Metrics were read in the `linkerd` dialect." in text
    assert "- `ejections`: Linkerd's failure accrual takes endpoints out" in text
    assert "- `overflows`: Linkerd has no connection-pool" in text
    assert "- `edge_requests`" not in text
