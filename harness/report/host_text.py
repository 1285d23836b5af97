"""The host's disturbance per phase as table rows (report.md, the HTML report, the dashboard)."""

from __future__ import annotations

from harness.store.model import HostDisturbance, RunRecord

HOST_TABLE_COLUMNS = (
    "phase",
    "scheduling lag p50 / p99 / max",
    "steal",
    "iowait",
    "load (max)",
    "foreign CPU",
    "load send lag (max)",
)
HOST_NOTE = (
    "Scheduling lag: how late the probe's short sleeps woke up (per-second p99s averaged, "
    "the largest seen); steal and iowait: shares of all CPU time; foreign CPU: cores busy "
    "outside the deployment and the harness"
)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if value < 10 else f"{value:.0f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def host_cells(host: HostDisturbance) -> list[str]:
    """The cells of one phase's row (after its name)."""
    lags = (host.sched_lag_p50_ms, host.sched_lag_p99_ms, host.sched_lag_max_ms)
    lag = "-" if lags[1] is None else " / ".join(_ms(v) for v in lags) + " ms"
    return [
        lag,
        _share(host.steal_share),
        _share(host.iowait_share),
        "-" if host.load1_max is None else f"{host.load1_max:.2f}",
        "-" if host.foreign_cpu_cores is None else f"{host.foreign_cpu_cores:.2f} cores",
        "-" if host.send_lag_max_ms is None else f"{_ms(host.send_lag_max_ms)} ms",
    ]


def host_rows(record: RunRecord) -> list[list[str]]:
    """One row per phase that has a measured disturbance (none for runs without a probe)."""
    return [
        [summary.phase, *host_cells(summary.host)]
        for summary in record.phase_summaries
        if summary.host is not None and summary.host.sched_lag_p99_ms is not None
    ]


def host_note(record: RunRecord) -> str:
    """What the host table's columns mean, and what the probe itself cost."""
    cores = record.host.probe_cpu_cores if record.host is not None else None
    cost = "" if cores is None else f" (the probe itself used {cores * 100:.1f} % of a core)"
    return f"{HOST_NOTE}{cost}."
