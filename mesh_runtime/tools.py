"""Finding the external binaries meshproof drives, and asking them their versions.

`find_binary(name)` looks, in this order, in:

1. `$MESHPROOF_TOOLS_DIR`, when set;
2. `<repo root>/.tools/bin`, where `make setup` builds the Go tools (toxiproxy-server,
   toxiproxy-cli, fortio) and links etcd and the Kubernetes binaries from their cache;
3. `PATH`;
4. `/usr/bin` and `/usr/sbin`, where Debian puts prometheus and haproxy (`/usr/sbin` is not
   on every user's PATH).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from mesh_runtime.errors import ToolNotFound

TOOLS_DIR_ENV = "MESHPROOF_TOOLS_DIR"
REPO_ROOT = Path(__file__).resolve().parent.parent
SYSTEM_DIRS = (Path("/usr/bin"), Path("/usr/sbin"))

_SETUP_HINTS = {
    "toxiproxy-server": "run `make setup`, which builds it into .tools/bin",
    "toxiproxy-cli": "run `make setup`, which builds it into .tools/bin",
    "fortio": "run `make setup`, which builds it into .tools/bin",
    "prometheus": "run `make setup`, which installs the Debian package prometheus",
    "haproxy": "run `make setup`, which installs the Debian package haproxy",
    "chromium": "run `make setup`, which installs the Debian package chromium",
    "chromedriver": "run `make setup`, which installs the Debian package chromium-driver",
    "dockerd": "run `make setup`, which installs the Debian package docker.io",
    **{
        name: "run `make setup` (or `bash .ci/setup.sh kubernetes`), which builds it into a "
        "cache outside the clone and links it into .tools/bin"
        for name in (
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kubelet",
        )
    },
}

# `toxiproxy-server version` would start a server, so only flags are tried by default;
# fortio is the one that answers a `version` sub-command and not a flag.
_VERSION_ARGS: dict[str, tuple[str, ...]] = {"fortio": ("version",)}
_DEFAULT_VERSION_ARGS = ("--version", "-version")
_VERSION_RE = re.compile(r"\bv?(\d+\.\d+(?:\.\d+)?[^\s,()]*)")


def find_binary(
    name: str,
    *,
    environ: Mapping[str, str] | None = None,
    repo_root: Path = REPO_ROOT,
) -> Path:
    """Return the path of the executable `name`, or raise `ToolNotFound` with a hint."""
    env = os.environ if environ is None else environ
    for directory in _search_dirs(env, repo_root):
        candidate = directory / name
        if _is_executable(candidate):
            return candidate
    on_path = shutil.which(name, path=env.get("PATH", ""))
    if on_path is not None:
        return Path(on_path)
    for directory in SYSTEM_DIRS:
        candidate = directory / name
        if _is_executable(candidate):
            return candidate
    hint = _SETUP_HINTS.get(name, "install it, or put it on PATH")
    raise ToolNotFound(name, f"{hint} (or point ${TOOLS_DIR_ENV} at a directory holding it)")


def tool_version(
    name: str,
    *,
    timeout_s: float = 10.0,
    environ: Mapping[str, str] | None = None,
    repo_root: Path = REPO_ROOT,
) -> str | None:
    """Return the version `name` reports of itself (e.g. "2.5.0"), or None if it cannot say."""
    try:
        binary = find_binary(name, environ=environ, repo_root=repo_root)
    except ToolNotFound:
        return None
    for arg in _VERSION_ARGS.get(name, _DEFAULT_VERSION_ARGS):
        output = _run_quietly([str(binary), arg], timeout_s)
        version = parse_version(output) if output is not None else None
        if version is not None:
            return version
    return None


def parse_version(output: str) -> str | None:
    """Return the first version number in a tool's `--version` output, or None."""
    match = _VERSION_RE.search(output)
    return match.group(1) if match else None


def _search_dirs(env: Mapping[str, str], repo_root: Path) -> list[Path]:
    dirs = [Path(env[TOOLS_DIR_ENV])] if env.get(TOOLS_DIR_ENV) else []
    dirs.append(repo_root / ".tools" / "bin")
    return dirs


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _run_quietly(command: list[str], timeout_s: float) -> str | None:
    """Run a command without input; its stdout (else stderr) if it exits 0, else None."""
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout if done.stdout.strip() else done.stderr
