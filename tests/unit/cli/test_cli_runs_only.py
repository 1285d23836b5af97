"""After compare wrote its report, `latest`, list and gate still see runs only (real CLI)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.cli.main import main
from tests.fixtures.make_run import make_run


def test_latest_list_and_gate_skip_comparisons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """compare writes reports/comparisons/...; with it and an old compare-* folder newer
    than every run, report latest and gate latest take the newest run, list lists runs only."""
    reports = tmp_path / "reports"
    old = make_run(reports, seed=1, started_at=datetime(2026, 4, 1, tzinfo=UTC))
    new = make_run(reports, seed=2, started_at=datetime(2026, 4, 2, tzinfo=UTC))
    legacy = reports / f"compare-{old.name}-vs-{new.name}"
    legacy.mkdir()
    (legacy / "compare.md").write_text("# Comparison\n", encoding="utf-8")
    assert main(["compare", old.name, new.name, "--reports", str(reports), "--json"]) in (0, 1)
    assert (reports / "comparisons" / f"{old.name}-vs-{new.name}" / "compare.json").is_file()
    capsys.readouterr()

    assert main(["report", "latest", "--reports", str(reports), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == new.name
    assert main(["list", "--reports", str(reports), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["status"]) for r in listed] == [(old.name, "failed"), (new.name, "failed")]
    code = main(["gate", "latest", "--reports", str(reports), "--min-history", "1", "--json"])
    assert code in (0, 1)
    assert json.loads(capsys.readouterr().out)["history"] == [old.name]


def test_a_comparison_given_as_run_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report` of a comparison's folder: exit 2, one line saying it is a comparison."""
    folder = tmp_path / "reports" / "comparisons" / "a-vs-b"
    folder.mkdir(parents=True)
    (folder / "compare.json").write_text("{}", encoding="utf-8")
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a comparison's report (compare.md), not a run" in err
