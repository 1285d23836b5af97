"""The mesh as the run saw it: signals over time, edges, services, per-process resources.

- `signals_over_time`: retries, ejections and overflows per second from the metrics
  table (`harness.analysis.signals.COUNTERS`): the per-second increase of the raw
  counters (resets handled, series summed), or the `rate(...)` / `increase(...)` series
  the Prometheus observer stored when the raw counter is absent.
- `edges`: caller -> callee request rate and error rate. From the metrics when the run
  has Istio's `istio_requests_total` by `source_workload` / `destination_workload`, as the
  source sidecar reports it: the raw counter's increase between the scrapes bounding the
  phase / the seconds between them (`counter_window`), else the mean of the
  `sum by (...) (rate(...))` query (low for a rate window after the first request), else from its
  metric dialect's `edge_requests` / `edge_errors` counters (run.json `dialect`: a mesh
  read in Linkerd's or Envoy's names), else from the sidecars' CLIENT spans; plus the
  harness's own edge `load -> <ingress>`.
- `services`: per service, the service's own `<service> handle` spans and its sidecar's
  inbound spans: count, p50 / p99 durations, error share.
- `resources`: mean CPU cores and peak RSS per process, and the sidecars' overhead as a
  share of the services' own CPU and memory.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.signals import (
    COUNTERS,
    PROXIED_REQUESTS,
    counter_increase_by,
    counter_window,
    run_counters,
)
from harness.analysis.traces import UPSTREAM_ATTRIBUTES
from harness.report.source import has_table, parquet, query
from harness.store.model import PhaseRecord
from harness.store.reader import load_run

_UPSTREAM_RE = r'"(?:' + "|".join(a.replace(".", r"\.") for a in UPSTREAM_ATTRIBUTES)
_UPSTREAM_RE += r')"\s*:\s*"([^"]*)"'
SPAN_KIND = """CASE replace(upper(CAST(kind AS VARCHAR)), 'SPAN_KIND_', '')
    WHEN '2' THEN 'SERVER' WHEN '3' THEN 'CLIENT'
    ELSE replace(upper(CAST(kind AS VARCHAR)), 'SPAN_KIND_', '') END"""
SPAN_ERROR = "upper(CAST(status_code AS VARCHAR)) IN ('ERROR', 'STATUS_CODE_ERROR', '2')"


def signals_over_time(run_dir: Path) -> pd.DataFrame:
    """`t_s, signal, count`: how many retries / ejections / overflows happened each second."""
    if not has_table(run_dir, "metrics"):
        return pd.DataFrame(columns=["t_s", "signal", "count"])
    counters = {s: q for s, q in run_counters(load_run(run_dir).dialect).items() if s in COUNTERS}
    sql = """SELECT t_s, metric, labels, value FROM read_parquet(?)
             WHERE list_contains(?, metric) OR metric LIKE 'rate(meshproof_%'
                OR metric LIKE 'increase(meshproof_%'"""
    metrics = query(sql, [parquet(run_dir, "metrics"), [*counters.values()]])
    start = min(0.0, float(metrics["t_s"].min())) if not metrics.empty else 0.0
    frames = [_signal(metrics, signal, counter, start) for signal, counter in counters.items()]
    out = pd.concat([f for f in frames if not f.empty] or [frames[0]], ignore_index=True)
    return out.sort_values(["signal", "t_s"], kind="stable").reset_index(drop=True)


def _signal(metrics: pd.DataFrame, signal: str, counter: str, start: float) -> pd.DataFrame:
    raw = metrics[metrics["metric"] == counter]
    if not raw.empty:
        steps = [_increases(series, start) for _, series in raw.groupby("labels")]
        total = pd.concat(steps).groupby(level=0).sum()
    else:
        derived = metrics[metrics["metric"].str.contains(f"({counter}[", regex=False)]
        if derived.empty:
            return pd.DataFrame(columns=["t_s", "signal", "count"])
        total = derived.groupby("t_s")["value"].sum()
    return pd.DataFrame(
        {"t_s": total.index.to_numpy(), "signal": signal, "count": total.to_numpy()}
    )


def _increases(series: pd.DataFrame, start: float) -> pd.Series:
    series = series.sort_values("t_s")
    values = series["value"].to_numpy(dtype="float64")
    # As PromQL's increase(): a series there from the first scrape counts from its first
    # value, one first seen later (a labelled counter's first increment) from 0; a drop
    # is a counter reset.
    first = values[0] if float(series["t_s"].iloc[0]) <= start else 0.0
    previous = np.concatenate([[first], values[:-1]])
    steps = np.where(values >= previous, values - previous, values)
    return pd.Series(steps, index=series["t_s"].to_numpy(), name="value")


EDGE_COLUMNS = ["source", "destination", "rps", "error_rate", "p99_ms", "from"]


def edges(run_dir: Path, phase: PhaseRecord | None) -> pd.DataFrame:
    """Caller -> callee edges with request rate, error rate and (from spans) p99 duration."""
    found = _edges_from_counter(run_dir, phase) if has_table(run_dir, "metrics") else None
    if (found is None or found.empty) and has_table(run_dir, "metrics"):
        found = _edges_from_metrics(run_dir, phase)
    if (found is None or found.empty) and has_table(run_dir, "metrics"):
        found = _edges_from_dialect(run_dir, phase)
    if found is None or found.empty:
        found = _edges_from_spans(run_dir)
    return found.reset_index(drop=True)[EDGE_COLUMNS]


def _edges_from_counter(run_dir: Path, phase: PhaseRecord | None) -> pd.DataFrame | None:
    """Edges from the source sidecars' raw `istio_requests_total`: each edge's increase
    between scrapes / the seconds between them (`counter_window`); an edge is shown when
    one of its series was scraped in the phase."""
    sql = "SELECT t_s, metric, labels, value FROM read_parquet(?) WHERE metric = ?"
    metrics = query(sql, [parquet(run_dir, "metrics"), PROXIED_REQUESTS])
    if metrics.empty:
        return None
    if phase is None:
        start, end = min(0.0, float(metrics["t_s"].min())), float(metrics["t_s"].max()) + 1.0
        phase = PhaseRecord(name="run", start_s=start, end_s=end)
    measured = counter_window(metrics, PROXIED_REQUESTS, phase)
    if measured is None:
        return None
    window, seconds = measured
    by = ("reporter", "source_workload", "destination_workload", "response_code")
    counts = counter_increase_by(metrics, PROXIED_REQUESTS, by, window) or {}
    seen = metrics[(metrics["t_s"] >= phase.start_s) & (metrics["t_s"] < phase.end_s)]
    shown = {tuple(json.loads(text).get(k, "") for k in by)[1:3] for text in seen["labels"]}
    sent: dict[tuple[str, str], float] = {}
    failed: dict[tuple[str, str], float] = {}
    for (reporter, src, dst, code), count in counts.items():
        if reporter in ("source", "") and (src, dst) in shown and src and dst and src != dst:
            sent[(src, dst)] = sent.get((src, dst), 0.0) + count
            failed[(src, dst)] = failed.get((src, dst), 0.0) + (count if _failed(code) else 0.0)
    if not sent or seconds <= 0:
        return None
    rows = [
        [src, dst, count / seconds, failed[(src, dst)] / count if count else np.nan, np.nan]
        for (src, dst), count in sorted(sent.items())
    ]
    return pd.DataFrame([[*row, "metrics"] for row in rows], columns=EDGE_COLUMNS)


def _failed(code: str) -> bool:
    """A 5xx, or no response at all (code 0, or none recorded)."""
    number = int(code) if code.isdigit() else 0
    return number >= 500 or number == 0


def _edges_from_metrics(run_dir: Path, phase: PhaseRecord | None) -> pd.DataFrame | None:
    """Edges from the `sum by (...) (rate(istio_requests_total[...]))` series, for a run
    without the raw counter: the mean rate over the phase's samples."""
    sql = """SELECT t_s, labels, value FROM read_parquet(?)
             WHERE metric LIKE 'sum by (%rate(istio_requests_total[%'"""
    rows = query(sql, [parquet(run_dir, "metrics")])
    if phase is not None:
        rows = rows[(rows["t_s"] >= phase.start_s) & (rows["t_s"] < phase.end_s)]
    if rows.empty:
        return None
    labels = pd.DataFrame([json.loads(text) for text in rows["labels"]], index=rows.index)
    if "source_workload" not in labels or "destination_workload" not in labels:
        return None
    if "reporter" in labels:
        keep = labels["reporter"].fillna("source") == "source"
        rows, labels = rows[keep], labels[keep]
    code = pd.to_numeric(labels.get("response_code"), errors="coerce").fillna(0)
    frame = pd.DataFrame(
        {
            "t_s": rows["t_s"],
            "source": labels["source_workload"],
            "destination": labels["destination_workload"],
            "value": rows["value"],
            "failed": np.where((code >= 500) | (code == 0), rows["value"], 0.0),
        }
    )
    per_second = frame.groupby(["source", "destination", "t_s"])[["value", "failed"]].sum()
    mean = per_second.groupby(level=["source", "destination"]).mean()
    out = mean.reset_index().rename(columns={"value": "rps"})
    out["error_rate"] = np.where(
        out["rps"] > 0, out["failed"] / out["rps"].where(out["rps"] > 0), np.nan
    )
    out["p99_ms"] = np.nan
    out["from"] = "metrics"
    return out[out["source"] != out["destination"]]


def _edges_from_dialect(run_dir: Path, phase: PhaseRecord | None) -> pd.DataFrame | None:
    """Edges from the run's dialect counters: requests and 5xx per (source, destination),
    measured between scrapes as `_edges_from_counter`."""
    dialect = load_run(run_dir).dialect
    wanted = [dialect.queries.get(s) for s in ("edge_requests", "edge_errors")] if dialect else []
    if not wanted or None in wanted:
        return None
    sql = "SELECT t_s, metric, labels, value FROM read_parquet(?) WHERE list_contains(?, metric)"
    metrics = query(sql, [parquet(run_dir, "metrics"), wanted])
    if metrics.empty:
        return None
    if phase is None:
        phase = PhaseRecord(name="run", start_s=0.0, end_s=float(metrics["t_s"].max()) + 1.0)
    measured = counter_window(metrics, str(wanted[0]), phase)
    if measured is None:
        return None
    window, seconds = measured
    by = ("mp_source", "mp_destination")
    sent = counter_increase_by(metrics, str(wanted[0]), by, window) or {}
    failed = counter_increase_by(metrics, str(wanted[1]), by, window) or {}
    rows = [
        [src, dst, count / seconds, failed.get((src, dst), 0.0) / count, np.nan, "metrics"]
        for (src, dst), count in sorted(sent.items())
        if count > 0 and seconds > 0 and src and dst and src != dst
    ]
    return pd.DataFrame(rows, columns=EDGE_COLUMNS)


def _edges_from_spans(run_dir: Path) -> pd.DataFrame:
    if not has_table(run_dir, "spans"):
        return pd.DataFrame(columns=EDGE_COLUMNS)
    upstream = f"regexp_extract(attributes, '{_UPSTREAM_RE}', 1)"
    reduced = f"split_part(list_last(string_split({upstream}, '|')), '.', 1)"
    sql = f"""
        WITH client AS (
            SELECT service AS source, {reduced} AS destination,
                   (end_ns - start_ns) / 1e6 AS duration_ms, {SPAN_ERROR} AS failed, start_ns
            FROM read_parquet(?) WHERE {SPAN_KIND} = 'CLIENT')
        SELECT source, destination, count(*) AS spans,
               avg(CASE WHEN failed THEN 1.0 ELSE 0.0 END) AS error_rate,
               quantile_cont(duration_ms, 0.99) AS p99_ms,
               (max(start_ns) - min(start_ns)) / 1e9 AS span_s
        FROM client WHERE destination <> '' GROUP BY 1, 2 ORDER BY 1, 2
    """
    out = query(sql, [parquet(run_dir, "spans")])
    # Span clocks are not on the run's timebase (t0): the rate is over the spans' own span.
    out["rps"] = out["spans"] / out["span_s"].where(out["span_s"] > 0)
    out["from"] = "spans"
    return out


def load_edge(
    run_dir: Path, ingress: str, phase: PhaseRecord | None, keep: bool = False
) -> pd.DataFrame:
    """The harness's own edge `load -> ingress`, from the request records."""
    where = "WHERE intended_s >= ? AND intended_s < ?" if phase else ""
    params: list[object] = [parquet(run_dir, "requests")]
    params += [phase.start_s, phase.end_s] if phase else []
    sql = f"""SELECT count(*) FILTER (WHERE status <> 0) AS answered,
                     avg(CASE WHEN status >= 500 OR status = 0 THEN 1.0 ELSE 0.0 END) AS error_rate,
                     quantile_cont(latency_ms, 0.99) FILTER (WHERE NOT isnan(latency_ms)) AS p99_ms,
                     max(intended_s) - min(intended_s) AS span_s
              FROM read_parquet(?) {where}"""
    row = query(sql, params, keep).iloc[0]
    seconds = (phase.end_s - phase.start_s) if phase else max(float(row["span_s"] or 0), 1.0)
    return pd.DataFrame(
        [
            {
                "source": "load",
                "destination": ingress,
                "rps": float(row["answered"]) / seconds,
                "error_rate": row["error_rate"],
                "p99_ms": row["p99_ms"],
                "from": "requests",
            }
        ]
    )


def edges_with_load(run_dir: Path, phase: PhaseRecord | None, ingress: str | None) -> pd.DataFrame:
    """The edges (`edges`), led by the harness's own edge into `ingress` when one is given."""
    found = edges(run_dir, phase)
    if ingress:
        found = pd.concat([load_edge(run_dir, ingress, phase), found])
    return found.reset_index(drop=True)


def services(run_dir: Path) -> pd.DataFrame:
    """Per service: spans of its own handler and of its sidecar's inbound listener."""
    if not has_table(run_dir, "spans"):
        return pd.DataFrame()
    sql = f"""
        WITH s AS (
            SELECT service, CASE WHEN name = service || ' handle' THEN 'app' ELSE 'sidecar' END AS part,
                   (end_ns - start_ns) / 1e6 AS duration_ms, {SPAN_ERROR} AS failed,
                   instance
            FROM read_parquet(?) WHERE {SPAN_KIND} = 'SERVER')
        SELECT service,
               count(DISTINCT instance) AS instances,
               count(*) FILTER (WHERE part = 'app') AS requests,
               avg(CASE WHEN failed THEN 1.0 ELSE 0.0 END) FILTER (WHERE part = 'app') AS error_rate,
               quantile_cont(duration_ms, 0.5) FILTER (WHERE part = 'app') AS app_p50_ms,
               quantile_cont(duration_ms, 0.99) FILTER (WHERE part = 'app') AS app_p99_ms,
               quantile_cont(duration_ms, 0.5) FILTER (WHERE part = 'sidecar') AS inbound_p50_ms,
               quantile_cont(duration_ms, 0.99) FILTER (WHERE part = 'sidecar') AS inbound_p99_ms
        FROM s GROUP BY 1 ORDER BY 1
    """
    return query(sql, [parquet(run_dir, "spans")])


def resources(run_dir: Path, phase: PhaseRecord | None) -> pd.DataFrame:
    """Per process: role, name, mean CPU cores and peak RSS over the phase."""
    if not has_table(run_dir, "resources"):
        return pd.DataFrame(columns=["role", "name", "cpu_cores", "rss_mb", "samples"])
    where = "WHERE t_s >= ? AND t_s < ?" if phase else ""
    params: list[object] = [parquet(run_dir, "resources")]
    params += [phase.start_s, phase.end_s] if phase else []
    sql = f"""SELECT role, name, avg(cpu_cores) AS cpu_cores, max(rss_mb) AS rss_mb,
                     count(*) AS samples
              FROM read_parquet(?) {where} GROUP BY 1, 2 ORDER BY 1, 2"""
    return query(sql, params)


def resources_over_time(run_dir: Path) -> pd.DataFrame:
    """`t_s, role, cpu_cores, rss_mb`: each role's processes summed, per sample second."""
    if not has_table(run_dir, "resources"):
        return pd.DataFrame(columns=["t_s", "role", "cpu_cores", "rss_mb"])
    sql = """SELECT floor(t_s) AS t_s, role, sum(cpu_cores) / count(DISTINCT t_s) AS cpu_cores,
                    sum(rss_mb) / count(DISTINCT t_s) AS rss_mb
             FROM read_parquet(?) GROUP BY 1, 2 ORDER BY 2, 1"""
    return query(sql, [parquet(run_dir, "resources")])


def by_instance(per_process: pd.DataFrame) -> pd.DataFrame:
    """Each instance's service and sidecar side by side, with the sidecar's share of the service's."""
    pair = per_process[per_process["role"].isin(["service", "sidecar"])]
    if pair.empty:
        return pd.DataFrame()
    # The local runtime names a sidecar process after its instance: 'cart-0-sidecar'.
    instance = pair["name"].astype(str).str.removesuffix("-sidecar")
    pair = pair.assign(name=instance.where(pair["role"] == "sidecar", pair["name"]))
    wide = pair.pivot_table(index="name", columns="role", values=["cpu_cores", "rss_mb"])
    out = pd.DataFrame(index=wide.index)
    for role in ("service", "sidecar"):
        out[f"{role}_cpu_cores"] = wide.get(("cpu_cores", role))
        out[f"{role}_rss_mb"] = wide.get(("rss_mb", role))
    out["cpu_share"] = out["sidecar_cpu_cores"] / out["service_cpu_cores"].where(
        out["service_cpu_cores"] > 0
    )
    out["rss_share"] = out["sidecar_rss_mb"] / out["service_rss_mb"].where(
        out["service_rss_mb"] > 0
    )
    return out.rename_axis("instance").reset_index()


def sidecar_overhead(per_process: pd.DataFrame) -> dict[str, float | None]:
    """Sidecars' CPU and memory as a share of the services' own (None without both)."""
    totals = per_process.groupby("role")[["cpu_cores", "rss_mb"]].sum()
    if "sidecar" not in totals.index or "service" not in totals.index:
        return {"cpu_share": None, "rss_share": None}
    side, app = totals.loc["sidecar"], totals.loc["service"]
    return {
        "cpu_share": float(side["cpu_cores"] / app["cpu_cores"]) if app["cpu_cores"] else None,
        "rss_share": float(side["rss_mb"] / app["rss_mb"]) if app["rss_mb"] else None,
    }
