"""Plotly figures of a run, drawn from the aggregated views (never from raw requests).

The dashboard shows them with `st.plotly_chart`; the HTML report embeds the same
figures with plotly.js inline. Every figure takes small, already aggregated frames.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from harness.store.model import FaultEvent, PhaseRecord

INK = "#1d3557"
BLUE = "#457b9d"
RED = "#e63946"
TEAL = "#2a9d8f"
GREY = "#8d99ae"
PURPLE = "#7b2cbf"
ORANGE = "#f4a261"
FAULT_SHADES = ("#f4a261", "#e76f51", "#e9c46a", "#8ab17d", "#b5838d")
RUN_COLOURS = (INK, "#e76f51")
TEMPLATE = "plotly_white"


def _layout(figure: go.Figure, height: int, title: str = "") -> go.Figure:
    figure.update_layout(
        template=TEMPLATE,
        height=height,
        margin={"l": 60, "r": 20, "t": 60 if title else 30, "b": 40},
        title={"text": title, "x": 0.0, "y": 0.98, "yanchor": "top", "font": {"size": 15}}
        if title
        else None,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
        hovermode="x unified",
    )
    return figure


def log_ticks(axis_min: float = 0.01, axis_max: float = 1e6) -> dict[str, list[Any]]:
    """1-2-5 ticks written out in full (plotly's log axes label minor ticks '2', '5')."""
    values = [m * 10.0**e for e in range(-3, 7) for m in (1, 2, 5)]
    values = [v for v in values if axis_min <= v <= axis_max]
    return {"tickvals": values, "ticktext": [f"{v:g}" for v in values]}


def _bands(
    figure: go.Figure, faults: Sequence[FaultEvent], phases: Sequence[PhaseRecord], end: float
) -> None:
    """Warm-up in grey, each fault as a shaded band named after it."""
    warmup = next((p for p in phases if p.name == "warmup"), None)
    if warmup is not None and warmup.end_s > warmup.start_s:
        figure.add_vrect(
            x0=warmup.start_s,
            x1=warmup.end_s,
            fillcolor=GREY,
            opacity=0.12,
            line_width=0,
            layer="below",
        )
        figure.add_annotation(
            x=warmup.start_s, y=1.0, xref="x", yref="paper", text="warm-up",
            showarrow=False, xanchor="left", yanchor="bottom", font={"color": GREY, "size": 11},
        )  # fmt: skip
    for index, fault in enumerate(faults):
        shade = FAULT_SHADES[index % len(FAULT_SHADES)]
        stop = fault.end_s if fault.end_s is not None else end
        figure.add_vrect(
            x0=fault.start_s, x1=stop, fillcolor=shade, opacity=0.22, line_width=0, layer="below"
        )
        figure.add_annotation(
            x=fault.start_s, y=1.0, xref="x", yref="paper", text=f"<b>{fault.name}</b>",
            showarrow=False, xanchor="left", yanchor="bottom", font={"color": shade, "size": 12},
        )  # fmt: skip


def timeline_figure(
    windows: pd.DataFrame,
    faults: Sequence[FaultEvent],
    phases: Sequence[PhaseRecord],
    host: pd.DataFrame | None = None,
) -> go.Figure:
    """RPS, error rate and latency (service time and corrected) per second, faults shaded;
    with `host` (`harness.report.host.host_timeline`), the host's disturbance below."""
    with_host = host is not None and not host.empty
    heights = [0.17, 0.12, 0.37, 0.17, 0.17] if with_host else [0.25, 0.2, 0.55]
    figure = make_subplots(
        rows=len(heights), cols=1, shared_xaxes=True, vertical_spacing=0.04,
        row_heights=heights,
        specs=[[{"secondary_y": row == 5}] for row in range(1, len(heights) + 1)],
    )  # fmt: skip
    x = windows["second"]
    step = {"shape": "hv"}
    figure.add_trace(
        go.Scatter(x=x, y=windows["rps"], name="RPS", line={**step, "color": INK}), row=1, col=1
    )
    figure.add_trace(
        go.Scatter(x=x, y=windows["error_rate"] * 100, name="errors %", line={**step, "color": RED}),
        row=2, col=1,
    )  # fmt: skip
    lines = (("p50_ms", "p50", TEAL), ("p99_ms", "p99", PURPLE), ("p999_ms", "p99.9", INK))
    for column, label, colour in lines:
        figure.add_trace(
            go.Scatter(x=x, y=windows[column], name=label, line={**step, "color": colour}),
            row=3, col=1,
        )  # fmt: skip
        corrected = f"corrected_{column}"
        if corrected in windows:
            figure.add_trace(
                go.Scatter(
                    x=x, y=windows[corrected], name=f"{label} corrected",
                    line={**step, "color": colour, "dash": "dot", "width": 1.2},
                    visible="legendonly" if column == "p50_ms" else True,
                ),
                row=3, col=1,
            )  # fmt: skip
    if with_host:
        assert host is not None
        _host_rows(figure, host)
    end = float(x.max()) + 1 if len(x) else 0.0
    _bands(figure, faults, phases, end)
    figure.update_yaxes(title_text="answered RPS", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(title_text="errors %", rangemode="tozero", row=2, col=1)
    figure.update_yaxes(title_text="latency ms (log)", type="log", row=3, col=1, **log_ticks())
    figure.update_xaxes(title_text="seconds since start", row=len(heights), col=1)
    _layout(figure, 900 if with_host else 640)
    figure.update_layout(legend={"y": -0.1, "yanchor": "top", "x": 0, "xanchor": "left"})
    return figure


def _host_rows(figure: go.Figure, host: pd.DataFrame) -> None:
    """Rows 4 and 5: wake-up and send lag (ms, log); foreign CPU and load, steal / iowait %."""
    x = host["second"]
    step = {"shape": "hv"}
    lags = (
        ("sched_lag_p99_ms", "scheduling lag p99", ORANGE, None),
        ("sched_lag_max_ms", "scheduling lag max", ORANGE, "dot"),
        ("max_send_lag_ms", "load send lag max", BLUE, None),
    )
    for column, label, colour, dash in lags:
        if column in host:
            line = {**step, "color": colour, "dash": dash, "width": 1.4}
            figure.add_trace(go.Scatter(x=x, y=host[column], name=label, line=line), row=4, col=1)
    cpu = (("foreign_cpu_cores", "foreign CPU cores", RED), ("load1", "load average", GREY))
    for column, label, colour in cpu:
        if column in host:
            line = {**step, "color": colour, "width": 1.4}
            figure.add_trace(go.Scatter(x=x, y=host[column], name=label, line=line), row=5, col=1)
    for column, label, colour in (
        ("steal_share", "steal %", PURPLE),
        ("iowait_share", "iowait %", TEAL),
    ):
        if column in host:
            line = {**step, "color": colour, "dash": "dot", "width": 1.2}
            figure.add_trace(
                go.Scatter(x=x, y=host[column] * 100, name=label, line=line),
                row=5, col=1, secondary_y=True,
            )  # fmt: skip
    figure.update_yaxes(title_text="host lag ms (log)", type="log", row=4, col=1, **log_ticks())
    figure.update_yaxes(title_text="cores / load", rangemode="tozero", row=5, col=1)
    figure.update_yaxes(
        title_text="% of CPU time", rangemode="tozero", row=5, col=1, secondary_y=True
    )


def signals_figure(
    signals: pd.DataFrame, faults: Sequence[FaultEvent], phases: Sequence[PhaseRecord]
) -> go.Figure:
    """Retries, ejections and overflows per second (bars), faults shaded."""
    figure = go.Figure()
    colours = {"retries": BLUE, "ejections": "#e76f51", "overflows": RED}
    for signal, rows in signals.groupby("signal", sort=False):
        figure.add_trace(
            go.Bar(x=rows["t_s"], y=rows["count"], name=str(signal),
                   marker_color=colours.get(str(signal), GREY))
        )  # fmt: skip
    end = float(signals["t_s"].max()) + 1 if not signals.empty else 0.0
    _bands(figure, faults, phases, end)
    figure.update_layout(barmode="group", bargap=0.15)
    figure.update_yaxes(title_text="per second", rangemode="tozero")
    figure.update_xaxes(title_text="seconds since start")
    return _layout(figure, 300, "retries, outlier ejections and overflows (from the metrics)")


def resources_figure(over_time: pd.DataFrame) -> go.Figure:
    """CPU cores of each role's processes over time."""
    figure = go.Figure()
    for role, rows in over_time.groupby("role", sort=True):
        figure.add_trace(go.Scatter(x=rows["t_s"], y=rows["cpu_cores"], name=str(role)))
    figure.update_yaxes(title_text="CPU cores", rangemode="tozero")
    figure.update_xaxes(title_text="seconds since start")
    return _layout(figure, 280, "CPU by role (sum of processes)")


def distribution_figure(histograms: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Service-time histograms overlaid (share of requests per log-spaced bin)."""
    figure = go.Figure()
    for index, (name, bins) in enumerate(histograms.items()):
        centre = np.sqrt(bins["low_ms"] * bins["high_ms"])
        figure.add_trace(
            go.Scatter(
                x=centre, y=bins["share"] * 100, name=name, mode="lines",
                line={"shape": "hvh", "color": RUN_COLOURS[index % 2], "width": 2},
                fill="tozeroy", opacity=0.5,
            )
        )  # fmt: skip
    figure.update_xaxes(title_text="service time, ms (log)", type="log", **log_ticks())
    figure.update_yaxes(title_text="% of requests", rangemode="tozero")
    return _layout(figure, 340, "latency distribution")


def ladder_figure(ladders: Mapping[str, pd.DataFrame], corrected: bool = True) -> go.Figure:
    """Latency by percentile (HdrHistogram style): x in 'nines', y latency in ms."""
    figure = go.Figure()
    ticks = [0.5, 0.9, 0.99, 0.999, 0.9999]
    for index, (name, ladder) in enumerate(ladders.items()):
        nines = -np.log10(1 - ladder["q"].clip(upper=1 - 1e-9))
        colour = RUN_COLOURS[index % 2] if len(ladders) > 1 else INK
        figure.add_trace(
            go.Scatter(x=nines, y=ladder["latency_ms"], name=f"{name} service time",
                       line={"color": colour, "width": 2})
        )  # fmt: skip
        if corrected:
            figure.add_trace(
                go.Scatter(x=nines, y=ladder["corrected_ms"], name=f"{name} corrected",
                           line={"color": colour, "dash": "dot"})
            )  # fmt: skip
    figure.update_xaxes(
        title_text="percentile",
        tickvals=[-math.log10(1 - q) for q in ticks],
        ticktext=["p50", "p90", "p99", "p99.9", "p99.99"],
    )
    figure.update_yaxes(title_text="ms (log)", type="log", **log_ticks())
    figure.update_layout(hovermode="closest")
    return _layout(figure, 340, "latency by percentile")


def trend_figure(
    history: pd.DataFrame, metric: str, threshold: float | None, op: str | None
) -> go.Figure:
    """One metric over many runs; the SLO threshold as a line; changed runs marked."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=history["started_at"], y=history[metric], mode="lines+markers", name=metric,
            line={"color": INK}, text=history["id"], hovertemplate="%{text}<br>%{y:.4g}",
        )
    )  # fmt: skip
    changed = history[history.get("changed", False) == True]  # noqa: E712
    if not changed.empty:
        figure.add_trace(
            go.Scatter(
                x=changed["started_at"], y=changed[metric], mode="markers", name="changed",
                marker={"symbol": "diamond-open", "size": 16, "color": RED, "line": {"width": 2}},
            )
        )  # fmt: skip
    marks = (("failed", "x", RED), ("inconclusive", "diamond", "#e9c46a"),
             ("aborted", "triangle-up", "#f4a261"))  # fmt: skip
    for status, symbol, colour in marks:
        runs = history[history.get("status") == status]
        if not runs.empty:
            figure.add_trace(
                go.Scatter(x=runs["started_at"], y=runs[metric], mode="markers",
                           name=f"run {status}", marker={"symbol": symbol, "size": 9, "color": colour})
            )  # fmt: skip
    if threshold is not None:
        figure.add_hline(
            y=threshold, line_dash="dash", line_color=RED,
            annotation_text=f"SLO {op or ''} {threshold:g}", annotation_position="top left",
        )  # fmt: skip
    figure.update_layout(hovermode="closest", showlegend=True)
    return _layout(figure, 300, metric)


def interval_figure(metrics: pd.DataFrame) -> go.Figure:
    """Each judged metric's change with its confidence band, in units of its tolerance.

    The shaded band [-1, 1] is "within tolerance": a band that leaves it on the harmful
    side is a failed metric (red), any other is grey, a pass green.
    """
    judged = metrics.dropna(subset=["delta"])
    judged = judged[judged["tolerance"].fillna(0) > 0]
    figure = go.Figure()
    figure.add_vrect(x0=-1, x1=1, fillcolor=TEAL, opacity=0.12, line_width=0)
    scale = judged["tolerance"]
    colours = [RED if f else (TEAL if c == "Pass" else GREY)
               for f, c in zip(judged["failed"], judged["classification"], strict=True)]  # fmt: skip
    x = judged["delta"] / scale
    low = (judged["delta"] - judged["low"].fillna(judged["delta"])) / scale
    high = (judged["high"].fillna(judged["delta"]) - judged["delta"]) / scale
    figure.add_trace(
        go.Scatter(
            x=x, y=judged["metric"], mode="markers", marker={"color": colours, "size": 10},
            error_x={"type": "data", "array": high, "arrayminus": low, "thickness": 2},
            text=judged["classification"], hovertemplate="%{y}: %{x:.2f} x tolerance (%{text})",
            showlegend=False,
        )
    )  # fmt: skip
    figure.add_vline(x=0, line_color=GREY, line_width=1)
    figure.update_xaxes(title_text="candidate - baseline, in units of the tolerance")
    figure.update_yaxes(autorange="reversed")
    figure.update_layout(hovermode="closest")
    return _layout(figure, max(260, 34 * len(judged) + 110), "change with confidence band")
