"""The host's disturbance per second and per phase, from the probe table (pure, pandas).

Per second (the `windows` columns `HOST_WINDOW_COLUMNS`):
- `sched_lag_p99_ms`, `sched_lag_max_ms`: how late the probe's wake-ups were (ms);
- `steal_share`, `iowait_share`: of all CPU time of all cores in that second (0..1);
- `load1`: the 1-minute load average read in that second;
- `foreign_cpu_cores`: CPU cores busy on the host (`/proc/stat`) minus the deployment's
  processes (the resources table: the resource sampler's rows; a row covers about the
  second before its `t_s` and counts for the second its middle falls in; a second without
  a row takes the next one's) minus the
  harness's own processes (orchestrator, Locust, the probe), never below 0.

Per phase (`HostDisturbance`, over the whole seconds whose middle lies in the phase):
`sched_lag_p50_ms` the median of the per-second p50s, `sched_lag_p99_ms` the mean of the
per-second p99s, `sched_lag_max_ms` the largest wake-up lag, `steal_share`,
`iowait_share`, `foreign_cpu_cores`, `busy_cores`, `steal_cores`, `probe_cpu_cores` their
means (`steal_cores` None for a probe table recorded before it had the column),
`online_cores` the largest (None for a probe table from before the column), `load1_max` the
largest load average, `send_lag_max_ms` the load driver's largest send lag in the seconds
overlapping the phase (the windows' `max_send_lag_ms`). No probe rows: every field None.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from harness.analysis.stats import optional
from harness.store.model import HostDisturbance, PhaseRecord, PhaseSummary

HOST_WINDOW_COLUMNS = (
    "sched_lag_p99_ms",
    "sched_lag_max_ms",
    "steal_share",
    "iowait_share",
    "load1",
    "foreign_cpu_cores",
)
HOST_COLUMNS = (
    "second",
    "sched_lag_p50_ms",
    *HOST_WINDOW_COLUMNS,
    "busy_cores",
    "steal_cores",
    "online_cores",
    "probe_cpu_cores",
)
SEND_LAG = "max_send_lag_ms"
"""The load driver's per-second send lag column in the windows (the load's own)."""
_FILL_LIMIT_S = 2
"""A second the resource sampler missed (it was late) takes the next reading (which covers
it), or else the previous one."""


def deployment_cores(resources: pd.DataFrame | None) -> pd.Series:
    """Summed `cpu_cores` of the deployment's processes per second since t0 (the rows of
    role `harness`, the harness's own processes, are not the deployment's)."""
    if resources is not None and "role" in resources.columns:
        resources = resources[resources["role"] != "harness"]
    if resources is None or resources.empty:
        return pd.Series(dtype="float64", name="deployment_cores")
    middle = resources["t_s"].to_numpy(dtype="float64") - 0.5
    second = np.floor(middle).astype("int64")
    cores = pd.Series(resources["cpu_cores"].to_numpy(dtype="float64"), index=second)
    return cores.groupby(level=0).sum().rename("deployment_cores")


def host_seconds(probe: pd.DataFrame | None, resources: pd.DataFrame | None) -> pd.DataFrame:
    """One row per probe second with the `HOST_COLUMNS` (empty without a probe table)."""
    if probe is None or probe.empty:
        return _empty()
    table = probe.drop_duplicates("second", keep="last").set_index("second").sort_index()
    for column in ("steal_cores", "online_cores"):  # a probe table from before the column
        if column not in table.columns:
            table = table.assign(**{column: np.nan})
    deployed = deployment_cores(resources)
    if deployed.empty:
        deployed_now = pd.Series(np.nan, index=table.index)
    else:
        span = pd.RangeIndex(
            min(table.index.min(), deployed.index.min()),
            max(table.index.max(), deployed.index.max()) + 1,
        )
        # a late reading covers the seconds it missed: the next one first
        filled = deployed.reindex(span).bfill(limit=_FILL_LIMIT_S).ffill(limit=_FILL_LIMIT_S)
        deployed_now = filled.reindex(table.index)
    foreign = table["busy_cores"] - table["harness_cores"].fillna(0.0) - deployed_now.fillna(0.0)
    out = table.assign(foreign_cpu_cores=foreign.clip(lower=0.0)).reset_index()
    return out[list(HOST_COLUMNS)].astype({c: "float64" for c in HOST_COLUMNS[1:]})


def with_host(windows: pd.DataFrame, host: pd.DataFrame) -> pd.DataFrame:
    """The windows with the host's per-second columns (NaN where the probe has no row)."""
    columns = ["second", *HOST_WINDOW_COLUMNS]
    base = windows.drop(columns=[c for c in HOST_WINDOW_COLUMNS if c in windows.columns])
    merged = base.merge(host[columns], on="second", how="left")
    return merged.astype({c: "float64" for c in HOST_WINDOW_COLUMNS})


def host_disturbance(
    host: pd.DataFrame, windows: pd.DataFrame, phase: PhaseRecord
) -> HostDisturbance:
    """The disturbance over one phase (see the module docstring)."""
    middle = host["second"] + 0.5
    rows = host[(middle >= phase.start_s) & (middle < phase.end_s)]
    send_lag = None
    if SEND_LAG in windows.columns:
        second = windows["second"]
        overlapping = windows[(second + 1 > phase.start_s) & (second < phase.end_s)]
        send_lag = optional(overlapping[SEND_LAG].max())
    if rows.empty:
        return HostDisturbance(send_lag_max_ms=send_lag)
    return HostDisturbance(
        sched_lag_p50_ms=optional(rows["sched_lag_p50_ms"].median()),
        sched_lag_p99_ms=optional(rows["sched_lag_p99_ms"].mean()),
        sched_lag_max_ms=optional(rows["sched_lag_max_ms"].max()),
        steal_share=optional(rows["steal_share"].mean()),
        iowait_share=optional(rows["iowait_share"].mean()),
        load1_max=optional(rows["load1"].max()),
        foreign_cpu_cores=optional(rows["foreign_cpu_cores"].mean()),
        busy_cores=optional(rows["busy_cores"].mean()),
        steal_cores=optional(rows["steal_cores"].mean()),
        online_cores=optional(rows["online_cores"].max()),
        send_lag_max_ms=send_lag,
        probe_cpu_cores=optional(rows["probe_cpu_cores"].mean()),
    )


def with_host_summaries(
    summaries: Mapping[str, PhaseSummary], host: pd.DataFrame, windows: pd.DataFrame
) -> dict[str, PhaseSummary]:
    """Each phase summary with its `host` filled in."""
    out = {}
    for name, summary in summaries.items():
        phase = PhaseRecord(name=name, start_s=summary.start_s, end_s=summary.end_s)
        disturbance = host_disturbance(host, windows, phase)
        out[name] = summary.model_copy(update={"host": disturbance})
    return out


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in HOST_COLUMNS})
    return frame.astype({"second": "int64"})
