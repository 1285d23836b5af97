"""write_files: the reports compare and gate write beside the runs (harness.store.writer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.store.writer import write_files
from mesh_runtime.errors import InvalidInput


def test_write_files_writes_each_file_into_a_new_folder(tmp_path: Path) -> None:
    """The folder is made; every file holds its text; the paths come back in order."""
    folder = tmp_path / "a" / "b"
    written = write_files(folder, {"x.md": "# x\n", "x.json": "{}\n"}, "the report")
    assert written == [folder / "x.md", folder / "x.json"]
    assert (folder / "x.md").read_text(encoding="utf-8") == "# x\n"


def test_write_files_that_cannot_be_written_is_one_invalid_input(tmp_path: Path) -> None:
    """A folder that is a file gives InvalidInput naming the folder and what was written."""
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(InvalidInput, match="cannot write the gate report") as caught:
        write_files(blocker / "out", {"gate.md": ""}, "the gate report")
    assert str(blocker / "out") in str(caught.value)


def test_an_out_folder_that_is_a_file_says_so(tmp_path: Path) -> None:
    """`--out report.md` (a file): 'it is a file, not a folder', not 'File exists'."""
    existing = tmp_path / "report.md"
    existing.write_text("mine\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="it is a file, not a folder"):
        write_files(existing, {"compare.md": ""}, "the report")
    assert existing.read_text(encoding="utf-8") == "mine\n"
