"""The files written beside run.json when a run ends: junit.xml, report.md and its chart.

    writer.finish(record, run_files(windows))     # harness.store.RunWriter writes them

The store writes files; what they say is drawn here, from the final record (with its run
id) and the run's windows (the chart; none for a run that measured nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.report.junit import junit_xml
from harness.report.markdown import markdown_files
from harness.store.model import RunRecord
from harness.store.writer import Render

if TYPE_CHECKING:
    import pandas as pd


def run_files(windows: pd.DataFrame | None = None) -> Render:
    """What `RunWriter.finish` / `mark_aborted` write from the final record, in order:
    junit.xml, then timeline.png (when there are windows) and report.md."""

    def render(record: RunRecord) -> dict[str, str | bytes]:
        return {"junit.xml": junit_xml(record), **markdown_files(record, windows)}

    return render
