"""The service graph: services as nodes in call-depth columns, edges labelled with rate and errors.

`layout` is pure (edges in, positions out) so it is tested without drawing; the figure
draws each edge as an arrow coloured by its error rate (as Kiali does: green below
0.1 %, amber below 1 %, red above) with `rps · error %` written on it.
"""

from __future__ import annotations

from collections import deque

import pandas as pd
import plotly.graph_objects as go

from harness.report.figures import INK, TEMPLATE

HEALTHY = "#2a9d8f"
DEGRADED = "#f4a261"
FAILING = "#e63946"


def layout(edges: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Node -> (x, y): x is the call depth from the roots, y spreads a column evenly."""
    nodes = sorted(set(edges["source"]) | set(edges["destination"]))
    callees = set(edges["destination"])
    depth = {n: 0 for n in nodes if n not in callees}
    if not depth and nodes:
        depth = {nodes[0]: 0}
    queue = deque(depth)
    while queue:
        node = queue.popleft()
        for callee in edges.loc[edges["source"] == node, "destination"]:
            if callee not in depth:
                depth[callee] = depth[node] + 1
                queue.append(callee)
    for node in nodes:
        depth.setdefault(node, 0)
    columns: dict[int, list[str]] = {}
    for node in sorted(nodes, key=lambda n: (depth[n], n)):
        columns.setdefault(depth[node], []).append(node)
    positions = {}
    for column, members in columns.items():
        for index, node in enumerate(members):
            positions[node] = (float(column), (len(members) - 1) / 2 - index)
    return positions


def edge_colour(error_rate: float | None) -> str:
    if error_rate is None or pd.isna(error_rate) or error_rate < 0.001:
        return HEALTHY
    return DEGRADED if error_rate < 0.01 else FAILING


def edge_label(rps: float | None, error_rate: float | None) -> str:
    rate = "-" if rps is None or pd.isna(rps) else f"{rps:.1f} rps"
    errors = "-" if error_rate is None or pd.isna(error_rate) else f"{error_rate * 100:.2g} % err"
    return f"{rate} · {errors}"


def service_graph_figure(edges: pd.DataFrame) -> go.Figure:
    """The mesh's call graph with request rate and error rate on each edge."""
    positions = layout(edges)
    figure = go.Figure()
    for row in edges.itertuples(index=False):
        (x0, y0), (x1, y1) = positions[str(row.source)], positions[str(row.destination)]
        colour = edge_colour(row.error_rate)
        figure.add_annotation(
            x=x1 - 0.12, y=y1, ax=x0 + 0.12, ay=y0, xref="x", yref="y", axref="x", ayref="y",
            showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=2.5, arrowcolor=colour, text="",
        )  # fmt: skip
        figure.add_annotation(
            x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=edge_label(row.rps, row.error_rate),
            showarrow=False, font={"size": 11, "color": colour}, bgcolor="rgba(255,255,255,0.85)",
        )  # fmt: skip
    names = list(positions)
    figure.add_trace(
        go.Scatter(
            x=[positions[n][0] for n in names], y=[positions[n][1] for n in names],
            mode="markers+text", text=[f"<b>{n}</b>" for n in names], textposition="top center",
            marker={"size": 26, "color": ["#ffffff" if n == "load" else INK for n in names],
                    "line": {"width": 2, "color": INK}, "symbol": "circle"},
            hoverinfo="text", showlegend=False,
        )
    )  # fmt: skip
    span_y = max((abs(y) for _, y in positions.values()), default=0.5) + 0.6
    figure.update_xaxes(
        visible=False, range=[-0.4, max((x for x, _ in positions.values()), default=0) + 0.4]
    )
    figure.update_yaxes(visible=False, range=[-span_y, span_y])
    figure.update_layout(
        template=TEMPLATE, height=max(260, int(150 * span_y)), margin={"l": 10, "r": 10, "t": 20, "b": 10},
    )  # fmt: skip
    return figure
