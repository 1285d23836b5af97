"""The run directory, read and written: the run.json model, the Parquet tables, files.

What the reports in it say (report.md, junit.xml, the chart) is drawn by `harness.report`.
"""

from harness.store.model import (
    SCHEMA_VERSION,
    Environment,
    ExperimentRef,
    FaultEvent,
    LoadWorker,
    PhaseRecord,
    PhaseSummary,
    RunRecord,
    Summary,
    TargetRef,
    ToolVersions,
    TraceSummary,
    Verdict,
)
from harness.store.reader import RunListing, StoredRun, list_runs, load_run, resolve_run
from harness.store.tables import TABLES
from harness.store.writer import RunWriter, iso_utc, run_id_for

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "Environment",
    "ExperimentRef",
    "FaultEvent",
    "LoadWorker",
    "PhaseRecord",
    "PhaseSummary",
    "RunListing",
    "RunRecord",
    "RunWriter",
    "StoredRun",
    "Summary",
    "TargetRef",
    "ToolVersions",
    "TraceSummary",
    "Verdict",
    "iso_utc",
    "list_runs",
    "load_run",
    "resolve_run",
    "run_id_for",
]
