"""The timeline chart of a run: RPS, error rate and p50 / p99, fault windows shaded.

matplotlib is imported inside the function and used through its object API on the Agg
canvas, so nothing about matplotlib's global state (pyplot, the default backend) is
touched, and importing this module costs nothing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.store.model import FaultEvent

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
    rps, errors, latency = figure.subplots(3, 1, sharex=True)
    # Each window covers [second, second + 1): steps from each second's start, and the
    # last window drawn to its end.
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
    for axis in (rps, errors, latency):
        axis.set_ylim(bottom=0)
        if warmup_s:
            axis.axvspan(0, warmup_s, color="#bbbbbb", alpha=0.3, linewidth=0)
    for index, fault in enumerate(faults):
        end = fault.end_s if fault.end_s is not None else (end_s or float(x.max(initial=0)))
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
