"""A run compared with itself is refused: one line, exit 2, no report but the junit.xml
saying so (fixture runs).

Before, `meshproof compare latest latest` (a CI job whose baseline step wrote nothing)
judged every metric against itself, printed "Pass: score 100" and exited 0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.compare import compare_runs
from mesh_runtime.errors import InvalidInput
from tests.fixtures.make_run import make_run


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def only_run(reports: Path) -> Path:
    return make_run(reports, seed=1, started_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_latest_against_latest_exits_2_in_one_line(
    only_run: Path, reports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`compare latest latest` with one run: the same run on both sides, refused."""
    out = tmp_path / "out"
    code = main(["compare", "latest", "latest", "--reports", str(reports), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1, captured.err
    assert "the baseline and the candidate are the same run" in captured.err
    assert only_run.name in captured.err
    assert [p.name for p in out.iterdir()] == ["junit.xml"]  # its <error>: test_cli_ci_output
    assert "Pass" not in captured.out


def test_the_same_folder_named_two_ways_is_the_same_run(only_run: Path) -> None:
    """A path and a path through `..` to one folder: refused as well."""
    roundabout = only_run.parent / ".." / only_run.parent.name / only_run.name
    with pytest.raises(InvalidInput, match="the baseline and the candidate are the same run"):
        compare_runs(only_run, roundabout, calibration=None)


def test_a_broken_calibration_json_is_called_json(tmp_path: Path) -> None:
    """`--calibration broken.json` said 'not valid YAML' of a JSON file."""
    from harness.calibrate import load_calibration

    broken = tmp_path / "baseline.json"
    broken.write_text('{"experiment": "baseline", "runs": [')
    with pytest.raises(InvalidInput, match="not valid JSON"):
        load_calibration(broken)
