"""`once_per_id`: a run copied under the reports folder keeps its run.json id; commands
reading earlier runs (gate, calibrate --history) count it once, and say which folder
they left out."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.store import ExperimentRef, RunRecord, Summary
from harness.store.reader import list_runs, once_per_id

RUN_ID = "20260102T000000Z-baseline"


def write_run(folder: Path, run_id: str, day: int) -> Path:
    record = RunRecord(
        id=run_id,
        experiment=ExperimentRef(name="baseline"),
        status="passed",
        started_at=f"2026-01-{day:02d}T00:00:00Z",
        summary=Summary(requests=1000, p50_ms=10.0, p99_ms=40.0, error_rate=0.0),
    )
    folder.mkdir()
    (folder / "run.json").write_text(record.model_dump_json())
    return folder


def test_the_folder_named_by_the_id_is_kept_and_the_copy_named(tmp_path: Path) -> None:
    """The original (its folder named by its id) stays, in its place; the copy, sorted
    before it by name, is left out with a line naming it, the id and the folder kept."""
    write_run(tmp_path / "20260101T000000Z-baseline", "20260101T000000Z-baseline", 1)
    original = write_run(tmp_path / RUN_ID, RUN_ID, 2)
    shutil.copytree(original, tmp_path / "1-copy")
    write_run(tmp_path / "20260103T000000Z-baseline", "20260103T000000Z-baseline", 3)
    once, copies = once_per_id(list_runs(tmp_path))
    assert [item.path.name for item in once] == [
        "20260101T000000Z-baseline",
        RUN_ID,
        "20260103T000000Z-baseline",
    ]
    assert copies == [f"1-copy: a copy of run {RUN_ID}, in {RUN_ID}"]


def test_without_a_folder_named_by_the_id_the_first_by_name_is_kept(tmp_path: Path) -> None:
    """Both folders renamed: the first by name is the one kept."""
    write_run(tmp_path / "b-renamed", RUN_ID, 2)
    shutil.copytree(tmp_path / "b-renamed", tmp_path / "a-renamed")
    once, copies = once_per_id(list_runs(tmp_path))
    assert [item.path.name for item in once] == ["a-renamed"]
    assert copies == [f"b-renamed: a copy of run {RUN_ID}, in a-renamed"]


def test_runs_with_their_own_ids_are_all_kept(tmp_path: Path) -> None:
    """No shared id: the listing is returned as it is, nothing said."""
    for day in (1, 2, 3):
        write_run(
            tmp_path / f"2026010{day}T000000Z-baseline", f"2026010{day}T000000Z-baseline", day
        )
    listings = list_runs(tmp_path)
    assert once_per_id(listings) == (listings, [])
