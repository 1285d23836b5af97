"""The benches say whether each tree's sidecar will run its compiled build or Python, and on
which interpreter."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from harness.bench.mesh import interpreter, print_request_paths
from harness.bench.pairs import request_path
from mesh_runtime.sidecar import native
from tests.unit.sidecar.test_sidecar_native import fake_build, source_tree


def test_a_tree_is_compiled_only_with_a_build_of_its_own_sources(tmp_path: Path) -> None:
    """No build of the tree's sources: Python; a complete build keyed by them: compiled;
    a source changed since: Python again (the stale build is not used)."""
    root = source_tree(tmp_path / "tree")
    env = {"MESHPROOF_CACHE": str(tmp_path / "cache")}
    assert request_path(root, env) == "Python"
    fake_build(native.cache_root(env) / native.digest(root))
    assert request_path(root, env) == "compiled"
    (root / "mesh_runtime/sidecar/http1.py").write_text("# changed\n")
    assert request_path(root, env) == "Python"


def test_trees_not_alike_are_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    """A compiled baseline beside a tree running Python is flagged: the comparison would
    measure the build, not the change."""
    print_request_paths({"this tree": "compiled", "baseline": "compiled"})
    print_request_paths({"this tree": "Python", "baseline": "compiled"})
    alike, differ = capsys.readouterr().out.splitlines()
    assert alike == "sidecar request path: this tree compiled, baseline compiled"
    assert differ.startswith("sidecar request path: this tree Python, baseline compiled (NOT")


def test_a_baseline_built_with_fewer_hot_modules_is_compiled(tmp_path: Path) -> None:
    """A baseline from before a module joined the build has no extension for it: its own
    sidecar still loads its complete build, and the bench says so."""
    root = source_tree(tmp_path / "tree")
    env = {"MESHPROOF_CACHE": str(tmp_path / "cache")}
    fake_build(native.cache_root(env) / native.digest(root), leave_out=native.HOT_MODULES[-1])
    assert request_path(root, env) == "compiled"


def test_the_interpreter_line_names_the_version_and_the_real_base_interpreter() -> None:
    line = interpreter()
    assert line.startswith(f"CPython {sys.version.split()[0]} (")
    assert os.path.realpath(sys._base_executable) in line  # type: ignore[attr-defined]
