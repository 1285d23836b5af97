"""A reader of stdout that leaves early (`meshproof list --json | head`): no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import exits

REPO = Path(__file__).resolve().parents[3]


def _reports(root: Path, runs: int) -> Path:
    """A reports folder of `runs` unreadable runs (each a line or more of `list --json`)."""
    for index in range(runs):
        folder = root / f"20261207T1{index:05d}Z-broken"
        folder.mkdir(parents=True)
        (folder / "run.json").write_text("{", encoding="utf-8")
    root.mkdir(exist_ok=True)
    return root


@pytest.mark.parametrize(
    ("runs", "options"),
    [(0, ["--json"]), (200, ["--json"]), (0, []), (200, [])],
    ids=[
        "small output, written at exit",
        "output beyond the pipe's buffer, written at once",
        "rich console, one line",
        "rich table beyond the pipe's buffer",
    ],
)
def test_stdout_closed_by_its_reader_ends_quietly(
    tmp_path: Path, runs: int, options: list[str]
) -> None:
    """stdout's reader gone before meshproof writes, by print or by a rich console: exit
    141 (128 + SIGPIPE, as a shell reports a command SIGPIPE stopped; never rich's 1, an
    SLO failed), nothing on stderr."""
    reports = _reports(tmp_path / "reports", runs)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli.main", "list", "--reports", str(reports), *options],
            cwd=REPO,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == exits.BROKEN_PIPE == 141


def test_every_console_of_the_cli_is_made_in_one_place() -> None:
    """No command builds a rich Console of its own: each comes from make_console, whose
    broken pipe ends in 141 like a print's."""
    cli = REPO / "harness" / "cli"
    builders = [
        path.name
        for path in sorted(cli.glob("*.py"))
        if path.name != "console.py" and "Console(" in path.read_text(encoding="utf-8")
    ]
    assert builders == []
