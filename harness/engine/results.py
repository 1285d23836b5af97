"""What a run leaves in its directory once it has measured: the tables (Parquet), run.json's
final fields, the Locust workers' roster as run.json keeps it, and the raw request records
dropped once they are in requests.parquet. Called by `harness.engine.session`."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from harness.engine.analyse import Analysis, Measured, interleaved_summary
from harness.engine.events import EventLog
from harness.engine.outcome import RunOutcome
from harness.judge import run_status
from harness.load.workers import WorkerReport
from harness.store import FaultEvent, LoadWorker, RunRecord, RunWriter, iso_utc
from mesh_runtime.topology import MeshMode


def write_tables(
    writer: RunWriter,
    events: EventLog,
    measured: Measured | None,
    analysis: Analysis | None,
    compare: tuple[str, pd.DataFrame] | None,
) -> None:
    """Every table the run has: requests and windows (analysed), metrics, resources and
    spans (measured), events, and `compare_<mode>` (`compare`: the interleaved mode and
    its requests)."""
    if analysis is not None:
        writer.write_table("requests", analysis.requests)
        writer.write_table("windows", analysis.windows)
    if measured is not None:
        for name, frame in (
            ("metrics", measured.metrics),
            ("resources", measured.resources),
            ("spans", measured.spans),
        ):
            if frame is not None:
                writer.write_table(name, frame)
    writer.write_table("events", events.frame())
    if compare is not None:
        other, requests = compare
        writer.write_table(f"compare_{other}", requests)


def final_record(
    record: RunRecord,
    t0: float,
    analysis: Analysis | None,
    faults: list[FaultEvent],
    outcome: RunOutcome,
    mode: MeshMode,
    compare: tuple[str, pd.DataFrame] | None,
) -> RunRecord:
    """`record` with the run's end: its duration since `t0`, faults, phases, verdicts,
    summaries (`mode`'s, and the interleaved mode's in `compare`) and status."""
    now = time.time()
    update: dict[str, object] = {
        "ended_at": iso_utc(datetime.now(UTC)),
        "duration_s": max(0.0, now - t0),  # stopped before t0 (picked ahead): none yet
        "faults": faults,
    }
    if analysis is not None:
        summaries = list(analysis.summaries.values())
        if compare is not None:
            other, requests = compare
            summaries.append(interleaved_summary(requests, mode, other))
        update.update(
            phases=analysis.phases,
            verdicts=analysis.verdicts,
            summary=analysis.summary,
            phase_summaries=summaries,
            traces=analysis.traces.summary() if analysis.traces is not None else None,
            wakeups=analysis.wakeups,
            host=analysis.summaries["whole"].host,
            hdr=analysis.hdr,
            cpu=analysis.cpu,
        )
    if outcome.stopped:
        update["status"] = outcome.status
        update["error"] = outcome.record_error()
    elif analysis is not None:
        update["status"] = run_status(analysis.verdicts, aborted=False)
    return record.model_copy(update=update)


def drop_raw_records(run_dir: Path) -> None:
    """The JSON-lines request records are in requests.parquet now."""
    for folder in run_dir.glob("load*"):
        for path in folder.glob("requests-w*.jsonl"):
            with contextlib.suppress(OSError):
                path.unlink()


def load_workers(reports: list[WorkerReport], t0: float) -> list[LoadWorker]:
    """The master's roster as run.json keeps it (times in seconds after t0)."""
    return [
        LoadWorker(
            index=w.index,
            client_id=w.client_id,
            records=w.records,
            share=w.share,
            status=w.status,
            unsent=w.unsent,
            lost_at_s=w.lost_at - t0 if w.lost_at is not None else None,
        )
        for w in reports
    ]
