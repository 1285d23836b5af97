"""Run directories a damaged disk or a careless copy leaves: refused in one line naming the
file and what is wrong, and listed as unreadable while the other runs still list."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from harness.store import RunRecord, RunWriter, StoredRun, list_runs, load_run
from harness.store.model import ExperimentRef
from mesh_runtime.errors import InvalidInput

STARTED = datetime(2026, 11, 27, 15, 40, 0, tzinfo=UTC)
REQUESTS = pd.DataFrame(
    {
        "intended_s": [0.1, 0.2],
        "latency_ms": [3.0, 4.0],
        "corrected_ms": [3.0, 4.5],
        "status": [200, 503],
        "route": ["root", "root"],
    }
)


def finished_run(root: Path, name: str = "demo") -> Path:
    """A passed run of `name` with a requests table (run.json lists it)."""
    writer = RunWriter(root, name, STARTED)
    writer.write_table("requests", REQUESTS)
    record = RunRecord(
        id="", experiment=ExperimentRef(name=name), started_at="2026-11-27T15:40:00Z"
    )
    writer.finish(record.model_copy(update={"status": "passed"}))
    return writer.path


def edit_record(run: Path, **fields: object) -> None:
    data = json.loads((run / "run.json").read_text())
    data.update(fields)
    (run / "run.json").write_text(json.dumps(data))


def test_deeply_nested_run_json_is_one_line(tmp_path: Path) -> None:
    """JSON nested past Python's recursion limit is 'not valid JSON', not a RecursionError
    out of every command that lists or reads runs."""
    run = finished_run(tmp_path)
    (run / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidInput, match="not valid JSON: nested too deeply"):
        load_run(run)
    assert [r.status for r in list_runs(tmp_path)] == ["unreadable"]


def test_a_lone_surrogate_escape_is_not_valid_json(tmp_path: Path) -> None:
    """'\\udce9' alone decodes to a string no report file can be written with: refused
    where run.json is read, not when compare or gate writes its report."""
    run = finished_run(tmp_path)
    text = (run / "run.json").read_text().replace('"id": "', '"id": "caf\\udce9', 1)
    (run / "run.json").write_text(text)
    with pytest.raises(InvalidInput, match=r"a lone surrogate \\udce9"):
        load_run(run)


def test_a_run_folder_named_in_another_encoding_is_refused_naming_it(tmp_path: Path) -> None:
    """A folder whose name is not UTF-8 (copied from a Latin-1 disk) is refused with its
    name escaped; `list` still shows it (as unreadable) beside the others."""
    good = finished_run(tmp_path)
    latin = os.fsdecode(os.fsencode(tmp_path) + b"/20261127T150000Z-caf\xe9")
    os.rename(finished_run(tmp_path / "other"), latin)
    with pytest.raises(InvalidInput) as caught:
        load_run(latin)
    assert str(caught.value) == (
        f"{tmp_path}/20261127T150000Z-caf\\xe9/run.json: the path is not UTF-8 text; "
        "rename the folder"
    )
    runs = list_runs(tmp_path)
    assert [(r.id, r.status) for r in runs] == [
        ("20261127T150000Z-caf\\xe9", "unreadable"),
        (good.name, "passed"),
    ]


@pytest.mark.parametrize("started", ["yesterday", "27/11/2026 15:40"])
def test_started_at_must_be_an_iso_time(tmp_path: Path, started: str) -> None:
    """A start time no reader can parse (the dashboard's run list, its trends) makes the
    run unreadable with the field named, instead of breaking the page for every run."""
    run = finished_run(tmp_path)
    edit_record(run, started_at=started)
    with pytest.raises(InvalidInput) as caught:
        load_run(run)
    assert (caught.value.path, caught.value.problem) == (
        "started_at",
        f"expected an ISO 8601 time like '2026-11-27T15:40:00Z', got {started!r}",
    )
    assert list_runs(tmp_path)[0].status == "unreadable"


@pytest.mark.parametrize("run_id", ["../../elsewhere", "a/b", ".."])
def test_a_run_id_must_be_a_folder_name(tmp_path: Path, run_id: str) -> None:
    """compare names its report folder after the run ids: an id holding a path would
    write outside reports/comparisons/."""
    run = finished_run(tmp_path)
    edit_record(run, id=run_id)
    with pytest.raises(InvalidInput, match="id: expected a run id"):
        load_run(run)


@pytest.mark.parametrize(
    ("damage", "field", "problem"),
    [
        (REQUESTS.drop(columns=["route"]), "route", "no such column in the table"),
        (REQUESTS.assign(status=["200", "503"]), "status", "expected numbers, got text"),
        (REQUESTS.assign(route=[1, 2]), "route", "expected text, got numbers"),
    ],
    ids=["column missing", "numbers as text", "text as numbers"],
)
def test_a_table_without_a_column_its_readers_need_is_refused(
    tmp_path: Path, damage: pd.DataFrame, field: str, problem: str
) -> None:
    """A table missing a column compare, calibrate or the report take for granted (or
    holding it as another kind) is one InvalidInput naming the file and the column."""
    run = finished_run(tmp_path)
    damage.to_parquet(run / "requests.parquet", index=False)
    with pytest.raises(InvalidInput) as caught:
        StoredRun(run).table("requests")
    exc = caught.value
    assert (exc.source, exc.path, exc.problem) == (str(run / "requests.parquet"), field, problem)


def test_a_table_run_json_lists_but_that_is_gone_is_said(tmp_path: Path) -> None:
    """A table run.json says was written, deleted since: the run has it (has_table), and
    reading it says it is gone, instead of the run seeming never to have had it."""
    run = finished_run(tmp_path)
    (run / "requests.parquet").unlink()
    stored = StoredRun(run)
    assert stored.has_table("requests") and not stored.has_table("metrics")
    with pytest.raises(InvalidInput, match=r"run\.json lists this table, but the file is gone"):
        stored.table("requests")


def test_a_table_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    """requests.parquet made a folder: 'not a file', not an empty table without columns."""
    run = finished_run(tmp_path)
    (run / "requests.parquet").unlink()
    (run / "requests.parquet").mkdir()
    with pytest.raises(InvalidInput, match=r"requests\.parquet: not a file"):
        StoredRun(run).table("requests")
