"""Run directories for the dashboard and report tests, generated at test time.

`reports` holds what a reviewer's folder would: two runs of `catalog-503` (different
seeds and rates, a day apart), one of `canary-503`, one aborted run and one directory
whose run.json is broken; and what else meshproof writes there, none of it a run: a
comparison in `comparisons/`, a `compare-*` folder of an earlier version, `calibration/`
and the README. The runs are written by meshproof's own analysis and writer
(`tests.fixtures.make_run`), so the dashboard reads exactly what the engine writes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures.make_run import make_run


@pytest.fixture(scope="session")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reports folder of five run directories (see the module docstring)."""
    root = tmp_path_factory.mktemp("reports")
    make_run(root, seed=3, rps=40.0, started_at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    make_run(root, seed=7, rps=50.0, started_at=datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    make_run(
        root, seed=11, rps=30.0, name="canary-503",
        started_at=datetime(2026, 11, 26, 3, 0, tzinfo=UTC),
    )  # fmt: skip
    aborted = make_run(root, seed=5, rps=30.0, started_at=datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    record = json.loads((aborted / "run.json").read_text())
    record.update(status="aborted", error="interrupted by SIGINT at 31.0 s")
    (aborted / "run.json").write_text(json.dumps(record))
    broken = root / "20261123T020000Z-broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    write_non_runs(root)
    return root


def write_non_runs(root: Path) -> None:
    """What meshproof writes into a reports folder besides runs (all newer than any run)."""
    comparison = root / "comparisons" / "20261127T020000Z-catalog-503-vs-20261127T030000Z-x"
    comparison.mkdir(parents=True)
    (comparison / "compare.json").write_text("{}")
    (comparison / "compare.md").write_text("# Comparison\n")
    old = root / "compare-20261127T020000Z-catalog-503-vs-20261127T030000Z-catalog-503"
    old.mkdir()
    (old / "compare.md").write_text("# Comparison\n")
    (root / "calibration").mkdir()
    (root / "calibration" / "another-experiment.json").write_text("{}")
    (root / "README.md").write_text("Runs are written here.\n")


@pytest.fixture(scope="session")
def run_dirs(reports: Path) -> dict[str, Path]:
    """The readable runs by a short name: old, new, canary, aborted."""
    return {
        "aborted": reports / "20261124T020000Z-catalog-503",
        "old": reports / "20261125T020000Z-catalog-503",
        "new": reports / "20261126T020000Z-catalog-503",
        "canary": reports / "20261126T030000Z-canary-503",
    }
