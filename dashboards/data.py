"""The dashboard's data access: the run store and the report views, cached.

Every cached function takes the run directory as a string and its `version` (`stamp`:
the newest modification time of its files), so a run that is rewritten (a run still going, a run
re-analysed) is read again, and an unchanged one never is. The views themselves are
in `harness.report` (DuckDB aggregations); nothing here touches raw requests.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import streamlit as st

from harness.compare import ComparisonResult, compare_runs
from harness.report import host, mesh, requests, trace_pick, traces
from harness.report.waterfall import WaterfallRow
from harness.store import RunRecord, list_runs, load_run
from harness.store.liveness import seen_here
from harness.store.model import PhaseRecord
from mesh_runtime.errors import InvalidInput

REPORTS_ENV = "MESHPROOF_REPORTS"


def reports_dir(argv: Sequence[str] | None = None) -> Path:
    """`--reports DIR` after streamlit's `--`, else $MESHPROOF_REPORTS, else ./reports."""
    args = list(sys.argv[1:] if argv is None else argv)
    for index, arg in enumerate(args):
        if arg == "--reports" and index + 1 < len(args):
            return Path(args[index + 1])
        if arg.startswith("--reports="):
            return Path(arg.partition("=")[2])
    return Path(os.environ.get(REPORTS_ENV, "reports"))


def stamp(run_dir: Path) -> int:
    """The newest mtime (ns) of the run directory's files: the cache key's second half."""
    try:
        return max((entry.stat().st_mtime_ns for entry in os.scandir(run_dir)), default=0)
    except OSError:
        return 0


def record(run_dir: str, version: int) -> RunRecord:
    """The run's record as it stands now: a `running` run whose harness is gone is aborted
    (asked on every call: a harness dies without touching the run's files)."""
    return seen_here(_record(run_dir, version))


@st.cache_data(show_spinner=False, max_entries=512)
def _record(run_dir: str, version: int) -> RunRecord:
    return load_run(run_dir)


def records(reports: Path) -> list[tuple[Path, RunRecord | None, str]]:
    """Every run of the reports folder, oldest first: path, record (None if unreadable), problem."""
    out: list[tuple[Path, RunRecord | None, str]] = []
    for listing in list_runs(reports):
        if listing.problem:
            out.append((listing.path, None, listing.problem))
            continue
        try:
            out.append((listing.path, record(str(listing.path), stamp(listing.path)), ""))
        except InvalidInput as exc:
            out.append((listing.path, None, str(exc)))
    return out


@st.cache_data(show_spinner=False, max_entries=64)
def timeline(run_dir: str, version: int) -> pd.DataFrame:
    return requests.timeline(Path(run_dir))


@st.cache_data(show_spinner=False, max_entries=64)
def host_timeline(run_dir: str, version: int) -> pd.DataFrame:
    return host.host_timeline(Path(run_dir))


@st.cache_data(show_spinner=False, max_entries=64)
def phase_percentiles(run_dir: str, version: int, phases: tuple[PhaseRecord, ...]) -> pd.DataFrame:
    return requests.phase_percentiles(Path(run_dir), phases)


@st.cache_data(show_spinner=False, max_entries=128)
def histogram(run_dir: str, version: int, phase: PhaseRecord | None) -> pd.DataFrame:
    return requests.latency_histogram(Path(run_dir), phase)


@st.cache_data(show_spinner=False, max_entries=128)
def ladder(run_dir: str, version: int, phase: PhaseRecord | None) -> pd.DataFrame:
    return requests.percentile_ladder(Path(run_dir), phase)


@st.cache_data(show_spinner=False, max_entries=64)
def signals(run_dir: str, version: int) -> pd.DataFrame:
    return mesh.signals_over_time(Path(run_dir))


@st.cache_data(show_spinner=False, max_entries=64)
def edges(run_dir: str, version: int, phase: PhaseRecord | None, ingress: str) -> pd.DataFrame:
    return mesh.edges_with_load(Path(run_dir), phase, ingress)


@st.cache_data(show_spinner=False, max_entries=64)
def services(run_dir: str, version: int) -> pd.DataFrame:
    return mesh.services(Path(run_dir))


@st.cache_data(show_spinner=False, max_entries=64)
def resources(run_dir: str, version: int, phase: PhaseRecord | None) -> pd.DataFrame:
    return mesh.resources(Path(run_dir), phase)


@st.cache_data(show_spinner=False, max_entries=64)
def resources_over_time(run_dir: str, version: int) -> pd.DataFrame:
    return mesh.resources_over_time(Path(run_dir))


@st.cache_data(show_spinner=False, max_entries=64)
def trace_view(run_dir: str, version: int) -> traces.TraceView | None:
    return traces.trace_view(record(run_dir, version), Path(run_dir))


@st.cache_data(show_spinner=False, max_entries=64)
def trace_lists(run_dir: str, version: int) -> dict[str, list[trace_pick.Pick]]:
    return trace_pick.ready_lists(record(run_dir, version), Path(run_dir))


@st.cache_data(show_spinner=False, max_entries=64)
def run_t0(run_dir: str, version: int) -> float | None:
    return trace_pick.run_t0_s(Path(run_dir))


@st.cache_data(show_spinner=False, max_entries=256)
def trace_rows(run_dir: str, version: int, trace_id: str) -> list[WaterfallRow]:
    t0_s = run_t0(run_dir, version)
    return trace_pick.trace_rows(record(run_dir, version), Path(run_dir), trace_id, t0_s)


@st.cache_data(show_spinner=False, max_entries=64)
def ingress(run_dir: str, version: int) -> str:
    graph = traces.call_graph(record(run_dir, version), Path(run_dir))
    return graph.ingress if graph else ""


@st.cache_data(show_spinner="Comparing the runs ...", max_entries=32)
def comparison(
    baseline: str, baseline_version: int, candidate: str, version: int
) -> ComparisonResult:
    return compare_runs(baseline, candidate)
