"""A waterfall's rows as one self-contained HTML table (no script): the Run page and the
HTML report draw the same. Each span row carries `data-span-id`, each row `data-row`
(harness / span / missing), so a browser test can read what is shown."""

from __future__ import annotations

import html

from harness.report.waterfall import WaterfallRow

STYLE = """<style>
table.waterfall{border-collapse:collapse;font:12px system-ui,sans-serif;width:100%}
table.waterfall td,table.waterfall th{padding:2px 6px;border-bottom:1px solid #eee;
text-align:left;white-space:nowrap}
div.waterfall{overflow-x:auto;max-width:100%}
table.waterfall td.bar{width:35%;position:relative;min-width:260px}
table.waterfall td.bar div{position:absolute;top:4px;height:12px;border-radius:2px}
table.waterfall tr.harness td.bar div{background:#7f7f7f}
table.waterfall tr.span td.bar div{background:#1f77b4}
table.waterfall tr.span.error td.bar div{background:#d62728}
table.waterfall tr.missing td{color:#d62728;font-style:italic}
</style>"""

COLUMNS = (
    "service", "operation", "start ms", "duration ms", "", "status", "flags", "retry", "peer",
)  # fmt: skip


def waterfall_table(rows: list[WaterfallRow], trace_id: str) -> str:
    """The table; bars are placed on the axis from the earliest start to the latest end."""
    timed = [r for r in rows if r.start_ms is not None and r.duration_ms is not None]
    low = min((r.start_ms for r in timed if r.start_ms is not None), default=0.0)
    high = max(
        (r.start_ms + (r.duration_ms or 0) for r in timed if r.start_ms is not None), default=1.0
    )
    scale = 100 / max(high - low, 1e-6)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(_row(r, low, scale) for r in rows)
    return (
        f'{STYLE}<div class="waterfall"><table class="waterfall"'
        f' data-trace-id="{html.escape(trace_id)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _row(row: WaterfallRow, low: float, scale: float) -> str:
    error = " error" if "ERROR" in row.status or row.status.startswith("5") else ""
    indent = f'style="padding-left:{6 + 14 * row.depth}px"'
    if row.start_ms is None or row.duration_ms is None:
        start = duration = "-"
        bar = ""
    else:
        start, duration = f"{row.start_ms:.3f}", f"{row.duration_ms:.3f}"
        left = (row.start_ms - low) * scale
        width = max(row.duration_ms * scale, 0.3)
        bar = f'<div style="left:{left:.2f}%;width:{width:.2f}%"></div>'
    name = row.operation if row.row != "missing" else f"missing: {row.label}"
    cells = [
        f"<td {indent}>{html.escape(row.service)}</td>",
        f'<td title="{html.escape(row.label)}">{html.escape(name)}</td>',
        f"<td>{start}</td>",
        f"<td>{duration}</td>",
        f'<td class="bar">{bar}</td>',
        f"<td>{html.escape(row.status)}</td>",
        f"<td>{html.escape(row.flags)}</td>",
        f"<td>{html.escape(row.retry)}</td>",
        f"<td>{html.escape(row.peer)}</td>",
    ]
    span = f' data-span-id="{html.escape(row.span_id)}"' if row.span_id else ""
    return f'<tr class="{row.row}{error}" data-row="{row.row}"{span}>{"".join(cells)}</tr>'
