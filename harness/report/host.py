"""The host's disturbance per second, from `windows.parquet` (a few columns, DuckDB).

Runs made before the disturbance probe have none of these columns: the view is then an
empty frame, and the timeline is drawn without its host rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.report.source import columns, has_table, parquet, query

HOST_COLUMNS = (
    "sched_lag_p99_ms",
    "sched_lag_max_ms",
    "max_send_lag_ms",
    "steal_share",
    "iowait_share",
    "load1",
    "foreign_cpu_cores",
)


def host_timeline(run_dir: Path) -> pd.DataFrame:
    """`second` and whichever of `HOST_COLUMNS` the run has; empty without the probe's."""
    if not has_table(run_dir, "windows"):
        return pd.DataFrame()
    present = columns(run_dir, "windows")
    wanted = [c for c in HOST_COLUMNS if c in present]
    if "sched_lag_p99_ms" not in wanted or "second" not in present:
        return pd.DataFrame()
    listed = ", ".join(wanted)
    sql = f"SELECT second, {listed} FROM read_parquet(?) ORDER BY second"
    return query(sql, [parquet(run_dir, "windows")])
