"""The long-form metrics table both metric sources produce: `t_s, metric, labels, value`.

`metric` names the series' source: a bare metric name for raw samples
(`meshproof_retries_total`), or the PromQL expression that made it
(`rate(meshproof_retries_total[5s])`). `labels` is the label set as JSON text with sorted
keys, so that equal label sets compare equal as strings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

COLUMNS = ["t_s", "metric", "labels", "value"]


def labels_text(labels: Mapping[str, str]) -> str:
    """Label set as JSON text with sorted keys; Prometheus's `__name__` left out."""
    return json.dumps({k: v for k, v in labels.items() if k != "__name__"}, sort_keys=True)


def make_row(t_s: float, metric: str, labels: Mapping[str, str], value: float) -> dict[str, Any]:
    return {"t_s": round(t_s, 3), "metric": metric, "labels": labels_text(labels), "value": value}


def frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The metrics table, sorted by time, then metric and labels."""
    table = pd.DataFrame(list(rows), columns=COLUMNS)
    if table.empty:
        return table.astype({"t_s": "float64", "value": "float64"})
    return table.sort_values(["t_s", "metric", "labels"], kind="stable").reset_index(drop=True)


def finite(value: float) -> bool:
    """NaN (histogram_quantile of no traffic) and infinities carry no measurement."""
    return not (math.isnan(value) or math.isinf(value))
