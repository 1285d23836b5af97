"""The Run page's views of a run's requests, answered once when the run is written.

    keep_request_views(writer.path, record)   # after the tables, before run.json's final write

The dashboard's Run page (and the HTML report) aggregate `requests.parquet` with DuckDB:
per-second windows, per-phase percentiles, the percentile ladder, the harness's own edge
and the lists of slow and failed requests. Over ten million requests each of those is
a scan and a sort of seconds; asked here with `keep=True`, their answers are kept in
the run directory (`harness.report.source`), and the page reads those few hundred rows
instead. Same queries, same answers: a view never kept (an older run, a run aborted
before this) or no longer matching its table is asked of the table, as before.
"""

from __future__ import annotations

from pathlib import Path

from harness.report import mesh, requests, trace_pick
from harness.report.source import has_table
from harness.store.model import RunRecord


def keep_request_views(run_dir: Path, record: RunRecord) -> None:
    """Answer, and keep, the views of `run_dir`'s requests that the Run page asks for."""
    if not has_table(run_dir, "requests"):
        return
    whole = record.whole_phase()
    requests.timeline(run_dir, keep=True)
    requests.phase_percentiles(run_dir, tuple(record.phases), keep=True)
    requests.percentile_ladder(run_dir, whole, keep=True)
    mesh.load_edge(run_dir, "", whole, keep=True)
    trace_pick.ready_lists(record, run_dir, keep=True)
