"""A baseline revision's archive unpacks on every CPython 3.11 (tarfile's "data" filter came
in 3.11.4; Debian 12's is 3.11.2), and an entry outside the tree refuses the whole archive."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from harness.bench.pairs import unpack
from harness.errors import RunError


def tar_of(entries: list[tuple[str, bytes | str | None]]) -> bytes:
    """A tar: a name with bytes is a file, with None a directory, with a str a symlink to it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
            else:
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if isinstance(content, bytes) else None)
    return buffer.getvalue()


def unpacked(entries: list[tuple[str, bytes | str | None]], tree: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(tar_of(entries))) as archive:
        unpack(archive, tree)


def test_files_and_directories_unpack_under_the_tree(tmp_path: Path) -> None:
    unpacked([("harness", None), ("harness/__init__.py", b"x = 1\n")], tmp_path / "rev")
    assert (tmp_path / "rev" / "harness" / "__init__.py").read_bytes() == b"x = 1\n"


@pytest.mark.parametrize("name", ["../escape.py", "/abs/escape.py", "harness/../../escape.py"])
def test_an_entry_outside_the_tree_refuses_the_whole_archive(tmp_path: Path, name: str) -> None:
    with pytest.raises(RunError, match="not unpacked"):
        unpacked([("harness/__init__.py", b""), (name, b"bad")], tmp_path / "rev")
    assert not (tmp_path / "rev").exists() and not (tmp_path / "escape.py").exists()


def test_a_link_refuses_the_whole_archive(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="harness/link"):
        unpacked([("harness/link", "/etc/passwd")], tmp_path / "rev")
    assert not (tmp_path / "rev").exists()
