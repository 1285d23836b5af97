"""The sidecar's hot path compiled with mypyc, when a build of the current sources exists.

    python -m mesh_runtime.sidecar.native build     (`make setup` runs it; idempotent)
    python -m mesh_runtime.sidecar.native status

`HOT_MODULES` (the request path: HTTP/1.1 parsing and serving, the sidecar's own HTTP/2
and gRPC modules and HPACK codec (not the h2 library under them; `h2_request` has async
generators, which mypyc does not compile), the upstream pool, the
outbound / inbound handlers, the per-service runtime and the policies every request
meets (routing, balancing, circuit breaking), spans and their export, metrics; and the
sample services' own request path, which serves and calls on those modules) are compiled
by mypyc into C extensions, one group; the
code stays the typed Python beside them, which is also the fallback. A build is cached
outside the clone (`$MESHPROOF_CACHE`, as `.ci/setup.sh` has it, under `sidecar-native/`)
and keyed by a digest of every source it could embed (the sidecar, config and services
packages, `mesh_runtime/*.py`), the Python and the mypy version: a changed source is never
served by a stale build; until the next build the sidecar runs the Python.

`activate()` runs first in the sidecar's `__main__`, before any hot module is imported:
with a complete build of the current sources it puts a finder in front of the import
system that loads those modules from the build (a compiled module calls the others of
its build directly, so they must all come from it, never half from source). Anything
else (no build, `MESHPROOF_SIDECAR_NATIVE=0`, a hot module already imported) leaves the
pure Python in place. Only the sidecar and the sample services (which serve and call on
the same modules) do this, first in their `__main__`: tests and tools that import the
modules get the Python.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

HOT_MODULES = (
    "mesh_runtime.sidecar.endpoint_pool",
    "mesh_runtime.sidecar.exchange",
    "mesh_runtime.sidecar.http1",
    "mesh_runtime.sidecar.http1_answer",
    "mesh_runtime.sidecar.http1_wire",
    "mesh_runtime.sidecar.http_server",
    "mesh_runtime.sidecar.http2",
    "mesh_runtime.sidecar.h2_wire",
    "mesh_runtime.sidecar.h2_upstream",
    "mesh_runtime.sidecar.h2_pool",
    "mesh_runtime.sidecar.h2_guard",
    "mesh_runtime.sidecar.h2_hpack",
    "mesh_runtime.sidecar.grpc",
    "mesh_runtime.sidecar.inbound",
    "mesh_runtime.sidecar.limits",
    "mesh_runtime.sidecar.observe",
    "mesh_runtime.sidecar.outbound",
    "mesh_runtime.sidecar.policy.balancer",
    "mesh_runtime.sidecar.policy.breaker",
    "mesh_runtime.sidecar.policy.matching",
    "mesh_runtime.sidecar.policy.routing",
    "mesh_runtime.sidecar.policy.timeouts",
    "mesh_runtime.sidecar.server_connections",
    "mesh_runtime.sidecar.state",
    "mesh_runtime.sidecar.telemetry.export",
    "mesh_runtime.sidecar.telemetry.exposition",
    "mesh_runtime.sidecar.telemetry.metrics",
    "mesh_runtime.sidecar.telemetry.otlp",
    "mesh_runtime.sidecar.telemetry.tracing",
    "mesh_runtime.sidecar.upstream",
    "mesh_runtime.sidecar.wire",
    # The sample services' request path (issue 17: an app hop costs what a sidecar hop
    # does): interpreted, it was ~10 % of a leaf's instructions a request and ~20 % of a
    # caller's. Not behaviour.py (pydantic models), nor the gRPC / TCP modules.
    "mesh_runtime.services.app",
    "mesh_runtime.services.call_result",
    "mesh_runtime.services.calls",
    "mesh_runtime.services.control",
    "mesh_runtime.services.deadlines",
    "mesh_runtime.services.http_pool",
    "mesh_runtime.services.http_serve",
    "mesh_runtime.services.tracing",
)
"""Compiled, and imported from the build all together or not at all."""

ENV_SWITCH = "MESHPROOF_SIDECAR_NATIVE"
"""`0`: the sidecar runs the pure Python even when a build exists."""

COMPLETE = "COMPLETE"
"""Written last into a build directory: a build without it is never used."""

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The directory holding `mesh_runtime/` (the clone, or site-packages)."""


def cache_root(env: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """Where builds live: `.ci/setup.sh`'s cache directory, `sidecar-native/` in it."""
    base = env.get("MESHPROOF_CACHE")
    if not base:
        xdg = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
        base = str(Path(xdg) / "meshproof")
    return Path(base) / "sidecar-native"


def digested_sources(root: Path = PACKAGE_ROOT) -> list[Path]:
    """Every source a build could embed (mypyc folds constants across modules)."""
    package = root / "mesh_runtime"
    files = [*package.glob("*.py"), *(package / "sidecar").rglob("*.py")]
    files += (package / "config").rglob("*.py")
    files += (package / "services").rglob("*.py")
    return sorted(files)


def digest(root: Path = PACKAGE_ROOT) -> str:
    """The build key of the sources under `root`, this Python and this mypy."""
    h = hashlib.sha256()
    h.update(f"{sys.version}\0{sys.platform}\0{_mypy_version()}\0".encode())
    for path in digested_sources(root):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:24]


def _mypy_version() -> str:
    """mypy's version, from the name of its dist-info directory on sys.path: the sidecar
    computes the digest at each start, and importlib.metadata would leave it ~3 MB of
    modules it never uses again (email, zipfile, csv)."""
    for entry in sys.path:
        for info in sorted(Path(entry or ".").glob("mypy-*.dist-info")):
            return info.name.removeprefix("mypy-").removesuffix(".dist-info")
    return "none"


def compiled_files(build: Path) -> dict[str, Path]:
    """Module name -> extension file of a complete build (empty when it is not one):
    the hot modules and mypyc's shared library of the group."""
    if not (build / COMPLETE).is_file():
        return {}
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    files = {}
    for name in HOT_MODULES:
        path = build.joinpath(*name.split(".")).with_name(name.rsplit(".", 1)[1] + suffix)
        if not path.is_file():
            return {}
        files[name] = path
    for path in build.glob(f"*__mypyc{suffix}"):
        files[path.name.removesuffix(suffix)] = path
    return files


class CompiledFinder:
    """Finds the modules of one build (and nothing else) in it. A meta path finder needs
    only `find_spec`: `importlib.abc`'s base class imported `importlib.resources` and its
    parts into every sidecar, which never uses them."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        return importlib.util.spec_from_file_location(fullname, file)


def activate(
    root: Path = PACKAGE_ROOT, env: dict[str, str] | os._Environ[str] = os.environ
) -> bool:
    """Serve the hot modules from the build of the current sources, if there is one;
    whether the sidecar now runs compiled."""
    if env.get(ENV_SWITCH) == "0":
        return False
    if any(name in sys.modules for name in HOT_MODULES):
        return False  # too late: a build must serve all of them or none
    files = compiled_files(cache_root(env) / digest(root))
    if not files:
        return False
    sys.meta_path.insert(0, CompiledFinder(files))
    return True


def running_compiled() -> bool:
    """Whether this process's hot path is the compiled one."""
    module = sys.modules.get(HOT_MODULES[0])
    return module is not None and not str(getattr(module, "__file__", "")).endswith(".py")


def build(root: Path = PACKAGE_ROOT, env: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """Compile the hot modules of the sources under `root` into the cache, unless a
    complete build of them is there already; its directory. Raises BuildFailed."""
    # The build's alone: a sidecar's start, which imports this module, never needs them.
    import shutil
    import subprocess
    import tempfile

    target = cache_root(env) / digest(root)
    if compiled_files(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sidecar-native-", dir=target.parent) as tmp:
        work = Path(tmp) / "src"
        # A copy of the sources: mypyc writes its C and extensions beside them, and the
        # clone must never hold an extension that would shadow its .py files.
        shutil.copytree(root / "mesh_runtime", work / "mesh_runtime", ignore=_not_sources)
        shutil.copy(root / "pyproject.toml", work / "pyproject.toml")
        sources = [str(Path(*name.split(".")).with_suffix(".py")) for name in HOT_MODULES]
        done = subprocess.run(
            [sys.executable, "-m", "mypyc", *sources],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BuildFailed((done.stdout + done.stderr).strip().splitlines()[-1:] or ["?"])
        staged = Path(tmp) / "build"
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        for module in (*HOT_MODULES, "*__mypyc"):
            for made in work.glob(str(Path(*module.split("."))) + suffix):
                dest = staged / made.relative_to(work)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(made, dest)
        (staged / COMPLETE).write_text(" ".join(HOT_MODULES) + "\n")
        if not compiled_files(staged):
            raise BuildFailed(["mypyc made no extension for some hot module"])
        try:
            staged.rename(target)
        except OSError:  # another set-up finished the same build first
            if not compiled_files(target):
                raise
    return target


class BuildFailed(Exception):
    """mypyc could not compile the hot modules (the sidecar keeps running the Python)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(" ".join(lines))


def _not_sources(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith((".so", ".c", ".o"))]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["build"], ["status"]):
        print("usage: python -m mesh_runtime.sidecar.native build|status", file=sys.stderr)
        return 2
    target = cache_root() / digest()
    if args == ["status"]:
        state = "built" if compiled_files(target) else "not built (the sidecar runs Python)"
        print(f"sidecar hot path, compiled with mypyc: {state}: {target}")
        return 0
    try:
        print(f"sidecar hot path compiled with mypyc: {build()}")
    except (BuildFailed, OSError) as exc:
        print(f"sidecar hot path not compiled (the sidecar runs Python): {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
