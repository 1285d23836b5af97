"""Sidecar profiles for upgrade validation: which sidecar program a run deploys.

    current            this checkout's sidecar (`python -m mesh_runtime.sidecar`)
    git:<ref>          the sidecar of a git commit, tag or branch: checked out with
                       `git worktree add --detach` into a temporary directory and run from
                       there (PYTHONPATH), while the control plane, services and harness
                       stay this checkout's, as an old data plane meets a new control plane
                       in a real rolling upgrade
    path:<dir>         a source tree that holds `mesh_runtime/sidecar` (an unpacked release)
    <ref>              a bare word that is not a directory is a git ref (`git:<ref>`)

Extra sidecar flags (e.g. `--no-tracing`) may be added to any profile, so two tunings of
one build compare as well. Every profile runs the sidecar's pure Python: its compiled hot
path (`mesh_runtime.sidecar.native`) exists only for a build of exactly this checkout's
sources, so an older commit would run as Python against a compiled `current`, and the
comparison would measure the compiler, not the change. The label recorded in run.json's `environment.sidecar_version`
names the profile and, for git, the commit (`git:v0.1.0 (1a2b3c4)`).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import RunError
from mesh_runtime.errors import InvalidInput
from mesh_runtime.sidecar.native import ENV_SWITCH

SIDECAR_MODULE = "mesh_runtime.sidecar"
ProfileKind = Literal["current", "git", "path"]


@dataclass(frozen=True)
class ProfileSpec:
    """A profile as the user wrote it, parsed (pure)."""

    kind: ProfileKind
    value: str = ""
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class SidecarProfile:
    """A profile ready to deploy: the command prefix that runs its sidecar, and its label."""

    label: str
    command: tuple[str, ...]


def parse_profile(text: str, extra_args: str = "", option: str = "--sidecar") -> ProfileSpec:
    """'current' | 'git:<ref>' | 'path:<dir>' | '<ref>'; extra flags in shell syntax."""
    text = text.strip()
    try:
        extra = tuple(shlex.split(extra_args))
    except ValueError as exc:
        raise InvalidInput(f"{option}-args", "", f"cannot split the flags: {exc}") from None
    if not text:
        raise InvalidInput(option, "", "expected 'current', 'git:<ref>' or 'path:<dir>'")
    if text == "current":
        return ProfileSpec("current", "", extra)
    kind, colon, value = text.partition(":")
    if colon and kind in ("git", "path"):
        if not value:
            raise InvalidInput(option, "", f"{kind}: needs a value, e.g. {kind}:{_example(kind)}")
        return ProfileSpec(kind, value, extra)  # type: ignore[arg-type]
    if Path(text).is_dir():
        return ProfileSpec("path", text, extra)
    return ProfileSpec("git", text, extra)


def _example(kind: str) -> str:
    return "HEAD~5" if kind == "git" else "/opt/meshproof-0.1"


def sidecar_command(source_tree: Path | None, extra_args: tuple[str, ...]) -> tuple[str, ...]:
    """The command prefix that runs the sidecar's pure Python from `source_tree` (None:
    the checkout's)."""
    env = shutil.which("env") or "/usr/bin/env"
    path = () if source_tree is None else (f"PYTHONPATH={source_tree}",)
    return (env, f"{ENV_SWITCH}=0", *path, sys.executable, "-m", SIDECAR_MODULE, *extra_args)


def _label(base: str, extra_args: tuple[str, ...]) -> str:
    return f"{base} {' '.join(extra_args)}" if extra_args else base


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RunError(f"git {' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        problem = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise InvalidInput(f"git {args[0]}", "", problem)
    return done.stdout.strip()


def resolve_commit(repo: Path, ref: str) -> str:
    """The full commit id of `ref` in `repo`; InvalidInput when it names none."""
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except InvalidInput:
        raise InvalidInput(ref, "", f"not a git commit, tag or branch in {repo}") from None


@contextmanager
def prepared(spec: ProfileSpec, repo: Path) -> Iterator[SidecarProfile]:
    """The profile ready to deploy; a git worktree lives exactly as long as the context."""
    if spec.kind == "current":
        yield SidecarProfile(
            _label("current", spec.extra_args), sidecar_command(None, spec.extra_args)
        )
        return
    if spec.kind == "path":
        tree = Path(spec.value).resolve()
        if not (tree / "mesh_runtime" / "sidecar").is_dir():
            raise InvalidInput(spec.value, "", "no mesh_runtime/sidecar in this directory")
        yield SidecarProfile(
            _label(f"path:{tree}", spec.extra_args), sidecar_command(tree, spec.extra_args)
        )
        return
    commit = resolve_commit(repo, spec.value)
    with tempfile.TemporaryDirectory(prefix="meshproof-sidecar-") as tmp:
        tree = Path(tmp) / commit[:12]
        _git(repo, "worktree", "add", "--detach", str(tree), commit)
        try:
            if not (tree / "mesh_runtime" / "sidecar").is_dir():
                raise InvalidInput(spec.value, "", "this commit has no mesh_runtime/sidecar")
            label = _label(f"git:{spec.value} ({commit[:7]})", spec.extra_args)
            yield SidecarProfile(label, sidecar_command(tree, spec.extra_args))
        finally:
            _git(repo, "worktree", "remove", "--force", str(tree))
