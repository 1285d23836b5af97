"""Analysis of a run (pandas, pure): records, phases, windows, summaries, traces."""

from harness.analysis.phases import (
    experiment_phases,
    label_phases,
    phase_intervals,
    with_phase,
)
from harness.analysis.records import read_requests
from harness.analysis.summary import RunFrames, summarize, unmeasured_metrics
from harness.analysis.traces import TraceReport, expected_spans, trace_completeness
from harness.analysis.windows import compute_windows

__all__ = [
    "RunFrames",
    "TraceReport",
    "compute_windows",
    "expected_spans",
    "experiment_phases",
    "label_phases",
    "phase_intervals",
    "read_requests",
    "summarize",
    "trace_completeness",
    "unmeasured_metrics",
    "with_phase",
]
