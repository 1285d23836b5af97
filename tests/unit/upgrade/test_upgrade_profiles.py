"""Sidecar profiles and the A/B schedule of validate-upgrade (pure parts)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.upgrade.profiles import ProfileSpec, parse_profile, sidecar_command
from harness.upgrade.rounds import schedule
from mesh_runtime.errors import InvalidInput


def test_profiles_parse_by_prefix(tmp_path: Path) -> None:
    """current, git:<ref>, path:<dir>; a bare word is a git ref, a bare dir a path."""
    assert parse_profile("current") == ProfileSpec("current")
    assert parse_profile("git:v0.1.0") == ProfileSpec("git", "v0.1.0")
    assert parse_profile(f"path:{tmp_path}") == ProfileSpec("path", str(tmp_path))
    assert parse_profile("HEAD~3") == ProfileSpec("git", "HEAD~3")
    assert parse_profile(str(tmp_path)) == ProfileSpec("path", str(tmp_path))


def test_extra_flags_are_split_like_a_shell() -> None:
    """--*-sidecar-args takes shell syntax."""
    spec = parse_profile("current", "--no-tracing --drain-timeout '5s'")
    assert spec.extra_args == ("--no-tracing", "--drain-timeout", "5s")


def test_empty_or_valueless_profiles_are_one_line_errors() -> None:
    """'' and 'git:' are rejected with a hint."""
    with pytest.raises(InvalidInput, match="expected 'current'"):
        parse_profile("  ", option="--baseline-sidecar")
    with pytest.raises(InvalidInput, match="git:HEAD~5"):
        parse_profile("git:")


def test_sidecar_command_runs_the_tree_first_on_the_path(tmp_path: Path) -> None:
    """A source tree is put first on PYTHONPATH; both sides run the pure Python (the
    compiled hot path exists only for this checkout's sources)."""
    current = sidecar_command(None, ("--no-tracing",))
    assert current[1:] == (
        "MESHPROOF_SIDECAR_NATIVE=0", sys.executable, "-m", "mesh_runtime.sidecar", "--no-tracing",
    )  # fmt: skip
    command = sidecar_command(tmp_path, ())
    assert "MESHPROOF_SIDECAR_NATIVE=0" in command
    assert f"PYTHONPATH={tmp_path}" in command
    assert command[-2:] == ("-m", "mesh_runtime.sidecar")


def test_rounds_interleave_baseline_and_candidate() -> None:
    """A B A B: each round runs the baseline, then the candidate."""
    assert schedule(2) == [("baseline", 1), ("candidate", 1), ("baseline", 2), ("candidate", 2)]
    with pytest.raises(InvalidInput):
        schedule(0)
