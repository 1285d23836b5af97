"""The timeline chart of a run: RPS, error rate and p50 / p99, fault windows shaded.

matplotlib is imported inside the function and used through its object API on the Agg
canvas, so nothing about matplotlib's global state (pyplot, the default backend) is
touched; it and numpy are imported only when a chart is drawn, so importing this module
costs nothing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.store.model import FaultEvent

if TYPE_CHECKING:
    import pandas as pd

_SHADES = ("#f4a261", "#e76f51", "#2a9d8f", "#8ab17d", "#e9c46a")


def timeline_png(
    windows: pd.DataFrame,
    faults: Sequence[FaultEvent],
    title: str,
    end_s: float | None = None,
    warmup_s: float = 0.0,
) -> bytes:
    """A PNG of three stacked panels over the run's seconds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 7), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(3, 1, sharex=True)
    _plot_windows(axes, windows)
    last = float(windows["second"].max()) + 1 if len(windows) else 0.0
    _shade(axes, faults, warmup_s, end_s or last)
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _plot_windows(axes: Sequence[Any], windows: pd.DataFrame) -> None:
    """RPS, error rate, p50/p99 as steps: a window covers [second, second + 1)."""
    import numpy as np

    rps, errors, latency = axes
    x = windows["second"].to_numpy(dtype="float64")
    x = np.append(x, x[-1] + 1) if len(x) else x

    def steps(axis: Any, column: str, scale: float = 1.0, **style: Any) -> None:
        y = windows[column].to_numpy(dtype="float64") * scale
        y = np.append(y, y[-1]) if len(y) else y
        axis.plot(x, y, linewidth=1.2, drawstyle="steps-post", **style)

    steps(rps, "rps", color="#264653")
    rps.set_ylabel("answered RPS")
    steps(errors, "error_rate", 100.0, color="#e63946")
    errors.set_ylabel("error rate %")
    steps(latency, "p50_ms", label="p50", color="#457b9d")
    steps(latency, "p99_ms", label="p99", color="#1d3557")
    latency.set_ylabel("latency ms")
    latency.set_xlabel("seconds since start (warm-up greyed)")
    latency.legend(loc="upper left", fontsize="small")
    for axis in axes:
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)


def _shade(
    axes: Sequence[Any], faults: Sequence[FaultEvent], warmup_s: float, end_s: float
) -> None:
    """Grey warm-up; each fault's window in its own colour, named above the first panel."""
    for axis in axes:
        if warmup_s:
            axis.axvspan(0, warmup_s, color="#bbbbbb", alpha=0.3, linewidth=0)
    for index, fault in enumerate(faults):
        end = fault.end_s if fault.end_s is not None else end_s
        shade = _SHADES[index % len(_SHADES)]
        for axis in axes:
            axis.axvspan(fault.start_s, end, color=shade, alpha=0.25, linewidth=0)
        axes[0].annotate(
            fault.name,
            (fault.start_s, 1.0),
            xycoords=("data", "axes fraction"),
            va="bottom",
            fontsize="small",
        )
