"""The timeline chart of a run: RPS, error rate and p50 / p99, fault windows shaded.

matplotlib is imported inside the function and used through its object API on the Agg
canvas, so nothing about matplotlib's global state (pyplot, the default backend) is
touched, and importing this module costs nothing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd

from harness.store.model import FaultEvent

_SHADES = ("#f4a261", "#e76f51", "#2a9d8f", "#8ab17d", "#e9c46a")


def timeline_png(
    windows: pd.DataFrame, faults: Sequence[FaultEvent], title: str, end_s: float | None = None
) -> bytes:
    """A PNG of three stacked panels over the run's seconds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 7), dpi=100)
    FigureCanvasAgg(figure)
    rps, errors, latency = figure.subplots(3, 1, sharex=True)
    x = windows["second"].to_numpy(dtype="float64")
    # Each window covers [second, second + 1): drawn as steps from the second's start.
    line = {"linewidth": 1.2, "drawstyle": "steps-post"}
    rps.plot(x, windows["rps"], color="#264653", **line)
    rps.set_ylabel("answered RPS")
    rps.set_ylim(bottom=0)
    errors.plot(x, windows["error_rate"] * 100, color="#e63946", **line)
    errors.set_ylabel("error rate %")
    errors.set_ylim(bottom=0)
    latency.plot(x, windows["p50_ms"], label="p50", color="#457b9d", **line)
    latency.plot(x, windows["p99_ms"], label="p99", color="#1d3557", **line)
    latency.set_ylabel("latency ms")
    latency.set_xlabel("seconds since start")
    latency.legend(loc="upper left", fontsize="small")
    for index, fault in enumerate(faults):
        end = fault.end_s if fault.end_s is not None else (end_s or float(x.max(initial=0)) + 1)
        shade = _SHADES[index % len(_SHADES)]
        for axis in (rps, errors, latency):
            axis.axvspan(fault.start_s, end, color=shade, alpha=0.25, linewidth=0)
        rps.annotate(
            fault.name,
            (fault.start_s, 1.0),
            xycoords=("data", "axes fraction"),
            va="bottom",
            fontsize="small",
        )
    for axis in (rps, errors, latency):
        axis.grid(True, alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
