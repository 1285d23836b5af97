"""`meshproof compare` in a terminal or CI log names the test of latency windows too
autocorrelated for ranks (fixture runs, no sockets).

Before, only compare.md's method column said Welch's t was used: the printed table read
"1 s windows, n=19 vs 19" beside a band of +-3.9 s, with nothing to say that the 19
windows counted as 2 effective values a side.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from harness.cli.main import main
from tests.fixtures.make_run import make_run


def drifting(source: Path, target: Path, factor: float) -> Path:
    """A copy of a run whose latency climbs steadily over the run (x1 to x2), times
    `factor`: window medians that follow each other closely (lag-1 autocorrelation ~1)."""
    shutil.copytree(source, target)
    table = pd.read_parquet(target / "requests.parquet")
    climb = 1.0 + table["intended_s"] / table["intended_s"].max()
    table["latency_ms"] = table["latency_ms"] * climb * factor
    table.to_parquet(target / "requests.parquet")
    return target


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    reports = tmp_path_factory.mktemp("reports")
    source = make_run(reports / "made", seed=1, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    base = drifting(source, reports / "20260102T000000Z-catalog-503", 1.0)
    cand = drifting(source, reports / "20260103T000000Z-catalog-503", 1.05)
    return base, cand


def test_the_printed_comparison_names_welch_and_its_effective_windows(
    runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each metric compare.json says was tested with Welch's t gets a line saying so, with
    its effective windows; a metric tested otherwise gets none."""
    base, cand = runs
    out = tmp_path / "out"
    main(["compare", str(base), str(cand), "--out", str(out), "--no-calibration"])
    printed = capsys.readouterr().out
    metrics = json.loads((out / "compare.json").read_text())["metrics"]
    welch = {m["metric"] for m in metrics if m["method"].startswith("Welch's t")}
    assert welch, "the fixture's drift should need Welch's t on some latency metric"
    lines = [line for line in printed.splitlines() if line.startswith("method: ")]
    named = {line.removeprefix("method: ").split(": ", 1)[0] for line in lines}
    assert named == welch, printed
    assert all("Welch's t" in line and "effective values" in line for line in lines)
