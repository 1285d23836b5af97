"""The requests table, aggregated by DuckDB before anything is drawn.

A run of a million requests must open in seconds, so nothing here hands the raw
requests to pandas: DuckDB reads only the columns a view needs from `requests.parquet`
and returns per-second windows, per-phase percentiles, histogram bins or a percentile
ladder, each a few hundred rows at most.

Percentiles are DuckDB's `quantile_cont`: linear interpolation between the two
nearest ranks, the same method as numpy's default and as `harness.analysis.stats`, so
a p99 here equals the analysis' p99 over the same requests. A request without a
measured latency (NaN) is left out of latency percentiles, as the analysis does; a
failed request is one answered 5xx or not answered at all (status 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from harness.report.source import parquet, query
from harness.store.model import PhaseRecord

FAILED = "(status >= 500 OR status = 0)"
LADDER = tuple(1 - 10 ** (-k / 10) for k in range(0, 41))
"""Percentiles from p0 to p99.99, evenly spaced in 'nines' (the HdrHistogram plot)."""
BINS_PER_DECADE = 20
"""Histogram bins are log-spaced and fixed, so two runs' histograms share their bins."""


def _measured(column: str) -> str:
    return f"FILTER (WHERE NOT isnan({column}))"


def timeline(run_dir: Path, keep: bool = False) -> pd.DataFrame:
    """Per intended-send second: requests, answered RPS, error rate, p50/p99/p99.9 of both clocks.

    `keep`: keep the answer in the run directory (`harness.report.source.query`)."""
    parts = []
    for column, prefix in (("latency_ms", ""), ("corrected_ms", "corrected_")):
        quantiles = f"quantile_cont({column}, [0.5, 0.99, 0.999]) {_measured(column)}"
        parts.append(f"{quantiles} AS {prefix}q")
    sql = f"""
        SELECT CAST(floor(intended_s) AS BIGINT) AS second,
               count(*) AS requests,
               count(*) FILTER (WHERE status <> 0) AS rps,
               avg(CASE WHEN {FAILED} THEN 1.0 ELSE 0.0 END) AS error_rate,
               {", ".join(parts)}
        FROM read_parquet(?) GROUP BY 1 ORDER BY 1
    """
    frame = query(sql, [parquet(run_dir, "requests")], keep)
    for prefix in ("", "corrected_"):
        lists = frame.pop(f"{prefix}q")
        for index, name in enumerate(("p50_ms", "p99_ms", "p999_ms")):
            frame[f"{prefix}{name}"] = [_item(values, index) for values in lists]
    frame["rps"] = frame["rps"].astype("float64")
    return frame


def _item(values: Sequence[float] | None, index: int) -> float:
    if values is None or values is pd.NA:  # duckdb's NULL list: a phase without requests
        return math.nan
    value = values[index]
    return math.nan if value is None else float(value)


PHASE_COLUMNS = (
    "phase",
    "requests",
    "error_rate",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "corrected_p50_ms",
    "corrected_p99_ms",
    "corrected_p999_ms",
)


def phase_percentiles(
    run_dir: Path, phases: Sequence[PhaseRecord], keep: bool = False
) -> pd.DataFrame:
    """One row per phase (warm-up left out): requests, error rate, service and corrected percentiles.

    One scan of the table with an aggregate per phase (a join of the requests to the
    phases' intervals took seconds per million requests); a phase without requests has
    `requests` 0, an error rate of 0 and no percentiles."""
    judged = [p for p in phases if p.name != "warmup"]
    if not judged:
        return pd.DataFrame(columns=list(PHASE_COLUMNS))
    intervals = list(dict.fromkeys((p.start_s, p.end_s) for p in judged))  # 'after' twice
    params: list[object] = [parquet(run_dir, "requests")]
    parts = []
    for index, interval in enumerate(intervals):
        params += list(interval)
        inside = f"intended_s >= ${2 * index + 2} AND intended_s < ${2 * index + 3}"
        parts.append(f"""
               count(intended_s) FILTER (WHERE {inside}) AS n{index},
               avg(CASE WHEN {FAILED} THEN 1.0 ELSE 0.0 END) FILTER (WHERE {inside}) AS e{index},
               quantile_cont(latency_ms, [0.5, 0.9, 0.99, 0.999])
                   FILTER (WHERE {inside} AND NOT isnan(latency_ms)) AS q{index},
               quantile_cont(corrected_ms, [0.5, 0.99, 0.999])
                   FILTER (WHERE {inside} AND NOT isnan(corrected_ms)) AS cq{index}""")
    sql = f"""
        SELECT {",".join(parts)}
        FROM (SELECT intended_s, status, latency_ms, corrected_ms FROM read_parquet($1))
    """
    row = query(sql, params, keep).iloc[0]
    rows = []
    for phase in judged:
        index = intervals.index((phase.start_s, phase.end_s))
        count = int(row[f"n{index}"])
        failed = row[f"e{index}"]
        values = {"phase": phase.name, "requests": count,
                  "error_rate": float(failed) if count else 0.0}  # fmt: skip
        for at, name in enumerate(("p50_ms", "p90_ms", "p99_ms", "p999_ms")):
            values[name] = _item(row[f"q{index}"], at)
        for at, name in enumerate(("corrected_p50_ms", "corrected_p99_ms", "corrected_p999_ms")):
            values[name] = _item(row[f"cq{index}"], at)
        rows.append(values)
    return pd.DataFrame(rows, columns=list(PHASE_COLUMNS))


def latency_histogram(run_dir: Path, phase: PhaseRecord | None = None) -> pd.DataFrame:
    """Service-time histogram on fixed log bins: `low_ms, high_ms, count, share`."""
    where, params = _phase_filter(phase)
    sql = f"""
        SELECT CAST(floor(log10(greatest(latency_ms, 0.001)) * {BINS_PER_DECADE}) AS BIGINT) AS bin,
               count(*) AS count
        FROM read_parquet(?) WHERE NOT isnan(latency_ms) {where}
        GROUP BY 1 ORDER BY 1
    """
    frame = query(sql, [parquet(run_dir, "requests"), *params])
    frame["low_ms"] = 10 ** (frame["bin"] / BINS_PER_DECADE)
    frame["high_ms"] = 10 ** ((frame["bin"] + 1) / BINS_PER_DECADE)
    total = frame["count"].sum()
    frame["share"] = frame["count"] / total if total else 0.0
    return frame[["low_ms", "high_ms", "count", "share"]]


def percentile_ladder(
    run_dir: Path, phase: PhaseRecord | None = None, keep: bool = False
) -> pd.DataFrame:
    """Service and corrected latency at each percentile of `LADDER`: `q, latency_ms, corrected_ms`."""
    where, params = _phase_filter(phase)
    ladder = "[" + ", ".join(repr(q) for q in LADDER) + "]"
    sql = f"""
        SELECT quantile_cont(latency_ms, {ladder}) {_measured("latency_ms")} AS q,
               quantile_cont(corrected_ms, {ladder}) {_measured("corrected_ms")} AS cq
        FROM read_parquet(?) WHERE TRUE {where}
    """
    row = query(sql, [parquet(run_dir, "requests"), *params], keep).iloc[0]
    return pd.DataFrame(
        {
            "q": LADDER,
            "latency_ms": [_item(row["q"], i) for i in range(len(LADDER))],
            "corrected_ms": [_item(row["cq"], i) for i in range(len(LADDER))],
        }
    )


def _phase_filter(phase: PhaseRecord | None) -> tuple[str, list[object]]:
    if phase is None:
        return "", []
    return "AND intended_s >= ? AND intended_s < ?", [phase.start_s, phase.end_s]
