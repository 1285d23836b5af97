"""Finding external binaries and reading their versions (mesh_runtime.tools)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mesh_runtime.errors import ToolNotFound
from mesh_runtime.tools import TOOLS_DIR_ENV, find_binary, parse_version, tool_version


def make_tool(directory: Path, name: str, script: str = "exit 0") -> Path:
    """Write an executable shell script `name` into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty fake repo root, with the environment cleared of tool locations."""
    monkeypatch.delenv(TOOLS_DIR_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    root = tmp_path / "repo"
    root.mkdir()
    return root


def test_tools_dir_env_wins_over_repo_and_path(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$MESHPROOF_TOOLS_DIR is searched before .tools/bin and PATH."""
    wanted = make_tool(tmp_path / "override", "meshproof-test-tool")
    make_tool(repo / ".tools" / "bin", "meshproof-test-tool")
    make_tool(tmp_path / "path", "meshproof-test-tool")
    monkeypatch.setenv(TOOLS_DIR_ENV, str(tmp_path / "override"))

    assert find_binary("meshproof-test-tool", repo_root=repo) == wanted


def test_repo_tools_bin_wins_over_path(tmp_path: Path, repo: Path) -> None:
    """<repo>/.tools/bin is searched before PATH."""
    wanted = make_tool(repo / ".tools" / "bin", "meshproof-test-tool")
    make_tool(tmp_path / "path", "meshproof-test-tool")

    assert find_binary("meshproof-test-tool", repo_root=repo) == wanted


def test_falls_back_to_path(tmp_path: Path, repo: Path) -> None:
    """A tool found nowhere else is taken from PATH."""
    wanted = make_tool(tmp_path / "path", "meshproof-test-tool")

    assert find_binary("meshproof-test-tool", repo_root=repo) == wanted


def test_skips_files_that_are_not_executable(tmp_path: Path, repo: Path) -> None:
    """A non-executable file of the right name is passed over."""
    plain = repo / ".tools" / "bin" / "meshproof-test-tool"
    plain.parent.mkdir(parents=True)
    plain.write_text("not a program")
    wanted = make_tool(tmp_path / "path", "meshproof-test-tool")

    assert find_binary("meshproof-test-tool", repo_root=repo) == wanted


def test_missing_tool_raises_with_setup_hint(repo: Path) -> None:
    """A tool found nowhere raises ToolNotFound naming it and how to get it."""
    with pytest.raises(ToolNotFound) as caught:
        find_binary("toxiproxy-server", repo_root=repo)

    assert caught.value.tool == "toxiproxy-server"
    assert "make setup" in caught.value.hint
    assert TOOLS_DIR_ENV in str(caught.value)


def test_environ_argument_replaces_process_environment(tmp_path: Path, repo: Path) -> None:
    """An explicit environ mapping is used instead of os.environ."""
    wanted = make_tool(tmp_path / "elsewhere", "meshproof-test-tool")

    found = find_binary(
        "meshproof-test-tool", environ={TOOLS_DIR_ENV: str(tmp_path / "elsewhere")}, repo_root=repo
    )

    assert found == wanted


def test_tool_version_reads_version_flag(repo: Path) -> None:
    """tool_version returns the number a tool prints for --version."""
    make_tool(
        repo / ".tools" / "bin",
        "meshproof-test-tool",
        'if [ "$1" = --version ]; then echo "the-tool version 2.5.0"; exit 0; fi; exit 1',
    )

    assert tool_version("meshproof-test-tool", repo_root=repo) == "2.5.0"


def test_tool_version_falls_back_to_single_dash_flag(repo: Path) -> None:
    """A tool that rejects --version is asked with -version."""
    make_tool(
        repo / ".tools" / "bin",
        "meshproof-test-tool",
        'if [ "$1" = -version ]; then echo "v1.68.2" >&2; exit 0; fi; exit 2',
    )

    assert tool_version("meshproof-test-tool", repo_root=repo) == "1.68.2"


def test_tool_version_is_none_for_a_hanging_tool(repo: Path) -> None:
    """A tool that does not answer within the timeout gives None, not a hang."""
    make_tool(repo / ".tools" / "bin", "meshproof-test-tool", "exec sleep 30")

    assert tool_version("meshproof-test-tool", timeout_s=0.2, repo_root=repo) is None


def test_tool_version_is_none_for_a_missing_tool(repo: Path) -> None:
    """A tool that cannot be found has no version."""
    assert tool_version("meshproof-no-such-tool", repo_root=repo) is None


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("prometheus, version 2.42.0+ds (branch: debian/sid)", "2.42.0+ds"),
        ("HAProxy version 2.6.12-1+deb12u4 2026/10/17", "2.6.12-1+deb12u4"),
        ("toxiproxy-server version 2.5.0\n", "2.5.0"),
        ("Chromium 156.0.8078.108 built on Debian", "156.0.8078.108"),
        ("no digits here", None),
    ],
)
def test_parse_version(output: str, expected: str | None) -> None:
    """parse_version picks the first version number out of real tools' outputs."""
    assert parse_version(output) == expected
