"""Choosing the sidecar's compiled request path: build key, complete builds, the finder."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mesh_runtime.sidecar import native

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def source_tree(root: Path) -> Path:
    for name in (
        "__init__.py",
        "sidecar/http1.py",
        "config/mesh.py",
        "control/app.py",
        "services/app.py",
    ):
        path = root / "mesh_runtime" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\n")
    return root


def fake_build(build: Path, complete: bool = True, leave_out: str = "") -> Path:
    """Empty files where a build's extensions go (nothing is loaded from them)."""
    for name in native.HOT_MODULES:
        if name != leave_out:
            path = build.joinpath(*name.split(".")).with_name(name.rsplit(".", 1)[1] + SUFFIX)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    (build / f"0123abcd__mypyc{SUFFIX}").touch()
    if complete:
        (build / native.COMPLETE).write_text("\n")
    return build


def test_the_build_key_follows_the_sources_the_build_could_embed(tmp_path: Path) -> None:
    """A changed sidecar, config or services source changes the key (a stale build is
    never used); a change elsewhere in mesh_runtime does not force a new build."""
    root = source_tree(tmp_path)
    first = native.digest(root)
    (root / "mesh_runtime/control/app.py").write_text("# changed\n")
    assert native.digest(root) == first
    (root / "mesh_runtime/config/mesh.py").write_text("# changed\n")
    second = native.digest(root)
    assert second != first
    (root / "mesh_runtime/sidecar/http1.py").write_text("# changed\n")
    third = native.digest(root)
    assert third not in (first, second)
    (root / "mesh_runtime/services/app.py").write_text("# changed\n")
    assert native.digest(root) not in (first, second, third)


def test_only_a_complete_build_of_every_hot_module_is_used(tmp_path: Path) -> None:
    """No COMPLETE marker, or one hot module missing: no build; else every hot module
    and mypyc's group library are mapped to their files."""
    assert native.compiled_files(fake_build(tmp_path / "a", complete=False)) == {}
    missing = fake_build(tmp_path / "b", leave_out="mesh_runtime.sidecar.wire")
    assert native.compiled_files(missing) == {}
    files = native.compiled_files(fake_build(tmp_path / "c"))
    assert set(files) == {*native.HOT_MODULES, "0123abcd__mypyc"}
    assert files["mesh_runtime.sidecar.http1"] == (
        tmp_path / "c/mesh_runtime/sidecar" / f"http1{SUFFIX}"
    )


def test_the_finder_serves_the_build_and_nothing_else(tmp_path: Path) -> None:
    """A hot module's spec is its extension in the build; any other name is left to the
    rest of the import system."""
    finder = native.CompiledFinder(native.compiled_files(fake_build(tmp_path)))
    spec = finder.find_spec("mesh_runtime.sidecar.outbound", None)
    assert spec is not None and spec.origin == str(
        tmp_path / "mesh_runtime/sidecar" / f"outbound{SUFFIX}"
    )
    assert isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)
    assert finder.find_spec("mesh_runtime.sidecar.policy", None) is None


def test_the_python_stays_without_a_build_when_switched_off_or_too_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """activate() changes nothing when no build of these sources exists, when
    MESHPROOF_SIDECAR_NATIVE=0, or once a hot module is imported already (never half
    compiled); the modules imported here are the Python ones."""
    root = source_tree(tmp_path / "src")
    env = {"MESHPROOF_CACHE": str(tmp_path / "cache")}
    finders = list(sys.meta_path)
    for name in native.HOT_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert not native.activate(root, env)
    fake_build(native.cache_root(env) / native.digest(root))
    assert not native.activate(root, {**env, native.ENV_SWITCH: "0"})
    monkeypatch.setitem(sys.modules, "mesh_runtime.sidecar.wire", sys)
    assert not native.activate(root, env)
    assert sys.meta_path == finders


def test_the_cache_is_set_ups_own() -> None:
    """Builds live where .ci/setup.sh keeps its builds: $MESHPROOF_CACHE, else the XDG
    cache directory, else ~/.cache, then meshproof/sidecar-native."""
    assert native.cache_root({"MESHPROOF_CACHE": "/c"}) == Path("/c/sidecar-native")
    assert native.cache_root({"XDG_CACHE_HOME": "/x"}) == Path("/x/meshproof/sidecar-native")
    assert native.cache_root({"HOME": "/h"}) == Path("/h/.cache/meshproof/sidecar-native")


def test_a_wrong_command_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Anything but build or status: the usage line on stderr, exit code 2."""
    assert native.main(["compile"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("switch", ["1", "0"])
def test_the_sample_services_take_the_build_as_the_sidecar_does(switch: str) -> None:
    """A sample service process (which serves and calls on the sidecar's stack) loads the
    hot modules it imports all from the build of these sources when one exists and is not
    switched off, else all as Python: never half compiled."""
    probe = (
        "import sys\n"
        "import mesh_runtime.services.__main__\n"
        "from mesh_runtime.sidecar import native\n"
        "loaded = [sys.modules[n] for n in native.HOT_MODULES if n in sys.modules]\n"
        "print(len(loaded), sum(not m.__file__.endswith('.py') for m in loaded))\n"
    )
    env = {**os.environ, native.ENV_SWITCH: switch}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    loaded, compiled = map(int, done.stdout.split())
    built = bool(native.compiled_files(native.cache_root() / native.digest()))
    assert loaded >= 5  # http1, http_server, limits, upstream, tracing at least
    assert compiled == (loaded if built and switch == "1" else 0)
