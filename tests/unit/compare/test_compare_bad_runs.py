"""compare on damaged or empty runs: one InvalidInput naming the file, never a traceback
and never a verdict from what was left."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.compare import compare_runs
from harness.compare.samples import Timed
from harness.compare.windows import window_quantiles, windows_of
from mesh_runtime.errors import InvalidInput
from tests.fixtures.make_run import make_run


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def baseline(reports: Path) -> Path:
    return make_run(reports, seed=1, started_at=datetime(2026, 1, 1, tzinfo=UTC))


def damaged_copy(baseline: Path, reports: Path, name: str) -> Path:
    target = reports / f"20260102T000000Z-{name}"
    shutil.copytree(baseline, target)
    return target


def test_no_window_has_no_quantiles() -> None:
    """A side whose every window was too sparse (or no request at all) has no window
    medians: an empty array, not zip()'s ValueError."""
    empty = Timed(np.array([]), np.array([], dtype="int64"), np.array([], dtype="int64"))
    assert window_quantiles(windows_of(empty, 1), 0.5).shape == (0,)


def test_a_run_without_measured_requests_is_refused(baseline: Path, reports: Path) -> None:
    """A candidate whose requests table holds no row after warm-up: nothing to compare
    (it used to end in a ValueError, and with windows fixed alone, in a Pass on the
    three metrics left)."""
    candidate = damaged_copy(baseline, reports, "no-rows")
    table = pd.read_parquet(candidate / "requests.parquet")
    table.iloc[:0].to_parquet(candidate / "requests.parquet", index=False)
    with pytest.raises(InvalidInput) as caught:
        compare_runs(baseline, candidate, calibration=None)
    assert str(caught.value) == (
        f"{candidate}/requests.parquet: no requests after warm-up: nothing to compare"
    )


def test_a_metrics_table_run_json_lists_but_is_gone_is_refused(
    baseline: Path, reports: Path
) -> None:
    """metrics.parquet deleted from the candidate: refused naming it, not a Pass with
    retries, ejections and sidecar CPU quietly NoData."""
    candidate = damaged_copy(baseline, reports, "no-metrics")
    (candidate / "metrics.parquet").unlink()
    with pytest.raises(InvalidInput, match=r"metrics\.parquet: run\.json lists this table, but"):
        compare_runs(baseline, candidate, calibration=None)


def test_a_resources_table_without_a_column_is_refused(baseline: Path, reports: Path) -> None:
    """resources.parquet without `role`: InvalidInput naming file and column, not KeyError."""
    candidate = damaged_copy(baseline, reports, "no-role")
    table = pd.read_parquet(candidate / "resources.parquet").drop(columns=["role"])
    table.to_parquet(candidate / "resources.parquet", index=False)
    with pytest.raises(InvalidInput) as caught:
        compare_runs(baseline, candidate, calibration=None)
    assert str(caught.value) == (
        f"{candidate}/resources.parquet: role: no such column in the table"
    )
