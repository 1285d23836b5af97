"""Writing and reading run directories (harness.store.writer / reader)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from harness.report.run_files import run_files
from harness.store import RunRecord, RunWriter, StoredRun, list_runs, load_run, resolve_run
from harness.store.model import ExperimentRef
from harness.store.reader import is_comparison_dir, is_run_dir
from mesh_runtime.errors import InvalidInput

STARTED = datetime(2026, 11, 27, 15, 40, 0, tzinfo=UTC)


def record(name: str = "demo", started: str = "2026-11-27T15:40:00Z") -> RunRecord:
    return RunRecord(id="", experiment=ExperimentRef(name=name, title="Demo"), started_at=started)


def test_run_directory_is_named_by_utc_start_and_experiment(tmp_path: Path) -> None:
    """reports/<YYYYmmddTHHMMSSZ>-<experiment>/, a suffix when the second is taken."""
    first = RunWriter(tmp_path, "demo", STARTED)
    second = RunWriter(tmp_path, "demo", STARTED)
    assert first.path == tmp_path / "20261127T154000Z-demo"
    assert second.run_id == "20261127T154000Z-demo-2"


def test_run_json_is_written_early_and_rewritten_at_the_end(tmp_path: Path) -> None:
    """run.json exists with status running before the end, then holds the final record."""
    writer = RunWriter(tmp_path, "demo", STARTED)
    writer.write_record(record())
    assert load_run(writer.path).status == "running"
    writer.write_table("windows", pd.DataFrame({"second": [0, 1], "rps": [1.0, 2.0]}))
    final = writer.finish(record().model_copy(update={"status": "passed"}))
    loaded = load_run(writer.path)
    assert loaded == final
    assert loaded.status == "passed" and loaded.tables == ["windows"]
    assert loaded.id == writer.run_id
    assert not list(writer.path.glob(".*tmp*"))


def test_tables_are_parquet_and_read_lazily(tmp_path: Path) -> None:
    """A table written is read back equal, only when asked for."""
    writer = RunWriter(tmp_path, "demo", STARTED)
    frame = pd.DataFrame({"t_s": [0.5, 1.5], "kind": ["fault", "phase"]})
    writer.write_table("events", frame)
    writer.finish(record())
    run = StoredRun(writer.path)
    assert run.has_table("events") and not run.has_table("spans")
    pd.testing.assert_frame_equal(run.table("events"), frame, check_dtype=False)
    with pytest.raises(InvalidInput, match="no such table"):
        run.table("spans")


def test_aborted_run_keeps_what_was_written(tmp_path: Path) -> None:
    """mark_aborted records why and keeps the tables and the record's data."""
    writer = RunWriter(tmp_path, "demo", STARTED)
    writer.write_record(record())
    writer.write_table("requests", pd.DataFrame({"intended_s": [0.1]}))
    writer.mark_aborted(record(), "interrupted (SIGINT)", run_files())
    loaded = load_run(writer.path)
    assert (loaded.status, loaded.error) == ("aborted", "interrupted (SIGINT)")
    assert loaded.ended_at is not None
    assert (writer.path / "requests.parquet").is_file()
    assert "interrupted (SIGINT)" in (writer.path / "junit.xml").read_text()
    assert "ABORTED" in (writer.path / "report.md").read_text()


def test_list_runs_is_sorted_and_tolerates_broken_runs(tmp_path: Path) -> None:
    """Runs are listed oldest first; a broken run.json is 'unreadable' with the reason; a
    folder without run.json is no run (it used to be listed as unreadable: issue 11)."""
    late = RunWriter(tmp_path, "b", datetime(2026, 11, 28, tzinfo=UTC))
    late.finish(record("b", "2026-11-28T00:00:00Z").model_copy(update={"status": "failed"}))
    early = RunWriter(tmp_path, "a", STARTED)
    early.finish(record("a").model_copy(update={"status": "passed"}))
    broken = tmp_path / "20261127T160000Z-c"
    broken.mkdir()
    (broken / "run.json").write_text('{"schema_version": 1, "id": "x"', encoding="utf-8")
    (tmp_path / "20261127T170000Z-d").mkdir()
    runs = list_runs(tmp_path)
    assert [r.id for r in runs] == [early.run_id, broken.name, late.run_id]
    assert [r.status for r in runs] == ["passed", "unreadable", "failed"]
    assert runs[1].problem.startswith("not valid JSON")
    assert [r.id for r in list_runs(tmp_path, experiment="b")] == [late.run_id]


def reports_with_everything_meshproof_writes(root: Path) -> RunWriter:
    """A reports folder holding one run and, newer than it, every other thing meshproof
    writes there: comparisons/, calibration/, an old compare-* folder, the README."""
    run = RunWriter(root, "alpha", STARTED)
    run.finish(record("alpha").model_copy(update={"status": "passed"}))
    new = root / "comparisons" / "20261129T000000Z-alpha-vs-20261129T000100Z-alpha"
    new.mkdir(parents=True)
    (new / "compare.json").write_text("{}", encoding="utf-8")
    old = root / "compare-20261129T000000Z-alpha-vs-20261129T000100Z-alpha"
    old.mkdir()
    (old / "compare.md").write_text("# Comparison\n", encoding="utf-8")
    (root / "calibration").mkdir()
    (root / "calibration" / "alpha.json").write_text("{}", encoding="utf-8")
    (root / "README.md").write_text("runs are written here\n", encoding="utf-8")
    return run


def test_only_folders_holding_run_json_are_runs(tmp_path: Path) -> None:
    """is_run_dir is true for a run only; comparisons (new and old), calibrations and the
    README are neither listed nor reported as unreadable, and 'latest' is the run."""
    run = reports_with_everything_meshproof_writes(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if is_run_dir(p)] == [run.run_id]
    assert is_comparison_dir(tmp_path / "compare-20261129T000000Z-alpha-vs-20261129T000100Z-alpha")
    assert [(r.id, r.status) for r in list_runs(tmp_path)] == [(run.run_id, "passed")]
    assert resolve_run("latest", tmp_path) == run.path
    assert resolve_run("2026", tmp_path) == run.path


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("compare-20261129T000000Z-alpha-vs-20261129T000100Z-alpha", "a comparison's report"),
        ("comparisons/20261129T000000Z-alpha-vs-20261129T000100Z-alpha", "a comparison's report"),
        ("calibration", "meshproof's calibration folder, not a run"),
        ("comparisons", "meshproof's comparisons folder, not a run"),
    ],
)
def test_a_folder_that_is_no_run_is_refused_saying_what_it_is(
    tmp_path: Path, ref: str, problem: str
) -> None:
    """RUN naming a comparison or meshproof's own folders: one InvalidInput saying what it is."""
    reports_with_everything_meshproof_writes(tmp_path)
    with pytest.raises(InvalidInput, match=problem):
        resolve_run(ref, tmp_path)
    with pytest.raises(InvalidInput, match=problem):
        resolve_run(str(tmp_path / ref), tmp_path / "elsewhere")


def test_unknown_schema_version_is_refused_clearly(tmp_path: Path) -> None:
    """A run.json of another schema version is one InvalidInput line."""
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 9}), encoding="utf-8")
    with pytest.raises(InvalidInput, match="schema_version: unsupported version 9"):
        load_run(tmp_path)


def test_resolve_run_by_path_id_prefix_and_latest(tmp_path: Path) -> None:
    """RUN may be a directory, a run id, a unique id prefix or 'latest'."""
    a = RunWriter(tmp_path, "alpha", STARTED)
    a.finish(record("alpha"))
    b = RunWriter(tmp_path, "beta", datetime(2026, 11, 28, tzinfo=UTC))
    b.finish(record("beta", "2026-11-28T00:00:00Z"))
    assert resolve_run(str(a.path), tmp_path) == a.path
    assert resolve_run(a.run_id, tmp_path) == a.path
    assert resolve_run("20261128", tmp_path) == b.path
    assert resolve_run("latest", tmp_path) == b.path
    with pytest.raises(InvalidInput, match="ambiguous"):
        resolve_run("2026112", tmp_path)
    with pytest.raises(InvalidInput, match="no such run"):
        resolve_run("nope", tmp_path)


def test_a_copied_run_is_listed_with_its_folder_and_resolved_by_folder_name(
    tmp_path: Path,
) -> None:
    """Two folders whose run.json has one id (`cp -r` of a run): each listing names the
    other folder; the id names the folder it is the name of (the original), each folder's
    name and path its own; a run in a renamed folder resolves by its id; an id two
    renamed folders share is refused naming both."""
    import shutil

    run = RunWriter(tmp_path, "alpha", STARTED)
    run.finish(record("alpha"))
    copy = tmp_path / f"{run.run_id}-copy"
    shutil.copytree(run.path, copy)
    other = RunWriter(tmp_path, "beta", datetime(2026, 11, 28, tzinfo=UTC))
    other.finish(record("beta", "2026-11-28T00:00:00Z"))
    listed = {item.path: item for item in list_runs(tmp_path)}
    assert listed[run.path].id == listed[copy].id == run.run_id
    assert listed[run.path].shares_id_with == (copy.name,)
    assert listed[copy].shares_id_with == (run.path.name,)
    assert listed[other.path].shares_id_with == ()
    assert resolve_run(run.run_id, tmp_path) == run.path
    assert resolve_run(str(copy), tmp_path) == copy
    assert resolve_run(copy.name, tmp_path) == copy
    assert resolve_run(other.run_id, tmp_path) == other.path
    renamed = run.path.rename(tmp_path / "kept")
    with pytest.raises(InvalidInput) as refused:
        resolve_run(run.run_id, tmp_path)
    message = str(refused.value)
    assert "\n" not in message and str(renamed) in message and str(copy) in message
    assert "name one's folder" in message
    shutil.rmtree(copy)
    assert resolve_run(run.run_id, tmp_path) == renamed
