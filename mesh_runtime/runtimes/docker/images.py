"""meshproof's images, built from local parts only: nothing is pulled from a registry.

- `meshproof/mesh:<version>-<digest>`: `compose/Dockerfile` on the base image, Python
  dependencies installed with `pip install --no-index` from a wheelhouse that `pip wheel`
  made on the host (`compose/wheelhouse/`, pinned to the versions the host venv runs), and
  the mesh_runtime sources (sidecar, control plane, services, trace sink).
- `meshproof/toxiproxy:<digest>`: `compose/toxiproxy.Dockerfile` on the base image with
  the toxiproxy-server binary `make setup` built.
- `meshproof/load:<version>-<digest>` (`ensure_load`, only the kubernetes runtime's Locust
  worker pods use it): `compose/load.Dockerfile` on the mesh image, plus Locust and what
  the harness's load worker imports (`LOAD_REQUIREMENTS`, a wheelhouse of their own:
  `compose/wheelhouse-load/`) and the harness sources.

A tag names the digest of its whole build context, so an image is built once per content
and `ensure` is a look-up when nothing changed. The base image (`--base`, default
`meshproof/base:bookworm`, made by `compose/make-base-image.sh`) must already be there.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh_runtime import __version__
from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes.docker.naming import IMAGE_LABEL
from mesh_runtime.tools import REPO_ROOT, find_binary

BASE_IMAGE = "meshproof/base:bookworm"
MESH_REPOSITORY = "meshproof/mesh"
TOXIPROXY_REPOSITORY = "meshproof/toxiproxy"
LOAD_REPOSITORY = "meshproof/load"
COMPOSE_DIR = REPO_ROOT / "compose"
WHEELHOUSE = COMPOSE_DIR / "wheelhouse"
LOAD_WHEELHOUSE = COMPOSE_DIR / "wheelhouse-load"
LOAD_REQUIREMENTS = ("locust", "hdrhistogram", "psutil")
"""What a Locust worker imports beyond the mesh image's requirements."""
MESH_REQUIREMENTS = (
    "pydantic",
    "PyYAML",
    "uvloop",
    "httptools",
    "h2",
    "grpcio",
    "aiohttp",
    "cryptography",
    "requests",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-proto",
)
"""What the mesh's processes import (not the harness: no pandas, Locust or Streamlit)."""
_SOURCE_SKIP = ("runtimes", "tools.py", "kube")
"""Parts of mesh_runtime that run on the host only (runtimes drive Docker, tools finds
binaries, kube is the Kubernetes API client of the host side)."""
_STAMP = ".requirements"

Progress = Callable[[str], None]
VersionOf = Callable[[str], str]


def _quiet(message: str) -> None:
    """Says nothing."""


@dataclass(frozen=True)
class Images:
    """The tags a deployment runs."""

    mesh: str
    toxiproxy: str

    def of(self, kind: str) -> str:
        return self.mesh if kind == "mesh" else self.toxiproxy


def base_missing_message(base: str) -> str:
    return (
        f"base image {base} is not in the Docker engine and meshproof pulls nothing from a "
        "registry; make it with `compose/make-base-image.sh` (debootstrap + docker import, "
        "run by `make setup`), or import any root filesystem with python3.11 and its venv "
        f"module: `tar -C ROOTFS -c . | docker import - {base}` (see compose/README.md)"
    )


# --- requirements and the wheelhouse ------------------------------------------------------


def pinned_requirements(
    names: Iterable[str] = MESH_REQUIREMENTS,
    version_of: VersionOf = importlib.metadata.version,
) -> list[str]:
    """'name==version' for each name, at the version this (the host's) environment runs."""
    out = []
    for name in names:
        try:
            out.append(f"{name}=={version_of(name)}")
        except importlib.metadata.PackageNotFoundError:
            raise DeployError(
                f"{name} is not installed in {sys.prefix}; run `make setup`"
            ) from None
    return out


def host_constraints() -> list[str]:
    """Every distribution of this environment pinned, so transitive wheels match it too."""
    pins = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() != "meshproof":
            pins.add(f"{name}=={dist.version}")
    return sorted(pins, key=str.lower)


def wheelhouse_ready(wheelhouse: Path, requirements: list[str]) -> bool:
    stamp = wheelhouse / _STAMP
    try:
        return stamp.read_text(encoding="utf-8") == "\n".join(requirements) + "\n"
    except OSError:
        return False


def build_wheelhouse(
    wheelhouse: Path,
    requirements: list[str],
    *,
    python: str = sys.executable,
    progress: Progress = _quiet,
) -> None:
    """`pip wheel` the requirements (pinned, constrained to the host's versions)."""
    if wheelhouse_ready(wheelhouse, requirements):
        return
    progress(f"pip wheel: {len(requirements)} requirements into {wheelhouse}")
    try:
        wheelhouse.mkdir(parents=True, exist_ok=True)
        (wheelhouse / "requirements.txt").write_text("\n".join(requirements) + "\n")
        (wheelhouse / "constraints.txt").write_text("\n".join(host_constraints()) + "\n")
    except OSError as exc:
        raise DeployError(f"{wheelhouse}: cannot write: {exc.strerror}") from exc
    command = [python, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheelhouse)]
    command += ["-r", str(wheelhouse / "requirements.txt")]
    command += ["-c", str(wheelhouse / "constraints.txt")]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeployError(f"pip wheel failed: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise DeployError(f"pip wheel failed (exit {done.returncode}):\n{tail}")
    (wheelhouse / _STAMP).write_text("\n".join(requirements) + "\n", encoding="utf-8")


# --- build contexts -----------------------------------------------------------------------

Entry = tuple[str, bytes, int]
"""(path in the context, content, mode)."""


def tar_context(entries: Iterable[Entry]) -> bytes:
    """A tar of `entries`, sorted, with fixed owners and times: same content, same bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in sorted(entries):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def context_digest(context: bytes) -> str:
    return hashlib.sha256(context).hexdigest()


def source_entries(package_root: Path) -> Iterator[Entry]:
    """The mesh_runtime sources the image runs (not the host-only runtimes and tools)."""
    for path in sorted(package_root.rglob("*.py")):
        relative = path.relative_to(package_root)
        if relative.parts[0] in _SOURCE_SKIP or "__pycache__" in relative.parts:
            continue
        yield (f"mesh_runtime/{relative.as_posix()}", path.read_bytes(), 0o644)


def python_entries(
    dockerfile: Path, wheelhouse: Path, requirements_file: str, requirements: list[str]
) -> list[Entry]:
    """A Python image's Dockerfile, its pinned requirements and its wheelhouse's wheels."""
    entries: list[Entry] = [
        ("Dockerfile", dockerfile.read_bytes(), 0o644),
        (requirements_file, ("\n".join(requirements) + "\n").encode(), 0o644),
    ]
    entries += [
        (f"wheelhouse/{wheel.name}", wheel.read_bytes(), 0o644)
        for wheel in sorted(wheelhouse.glob("*.whl"))
    ]
    return entries


def mesh_context(
    dockerfile: Path, wheelhouse: Path, requirements: list[str], package_root: Path
) -> bytes:
    entries = python_entries(dockerfile, wheelhouse, "requirements-mesh.txt", requirements)
    entries += list(source_entries(package_root))
    return tar_context(entries)


def load_context(
    dockerfile: Path, wheelhouse: Path, requirements: list[str], harness_root: Path
) -> bytes:
    """The load image's context: its Dockerfile, requirements, wheels, the harness sources
    and the host-only parts of mesh_runtime the harness imports (e.g. mesh_runtime.kube's
    models)."""
    entries = python_entries(dockerfile, wheelhouse, "requirements-load.txt", requirements)
    package_root = harness_root.parent / "mesh_runtime"
    for path in sorted(package_root.rglob("*.py")):  # what the mesh image left out too
        relative = path.relative_to(package_root)
        if relative.parts[0] in _SOURCE_SKIP and "__pycache__" not in relative.parts:
            entries.append((f"mesh_runtime/{relative.as_posix()}", path.read_bytes(), 0o644))
    for path in sorted(harness_root.rglob("*.py")):
        relative = path.relative_to(harness_root)
        if "__pycache__" not in relative.parts:
            entries.append((f"harness/{relative.as_posix()}", path.read_bytes(), 0o644))
    return tar_context(entries)


def toxiproxy_context(dockerfile: Path, binary: Path) -> bytes:
    return tar_context(
        [
            ("Dockerfile", dockerfile.read_bytes(), 0o644),
            ("toxiproxy-server", binary.read_bytes(), 0o755),
        ]
    )


def mesh_tag(digest: str) -> str:
    return f"{MESH_REPOSITORY}:{__version__}-{digest[:12]}"


def toxiproxy_tag(digest: str) -> str:
    return f"{TOXIPROXY_REPOSITORY}:{digest[:12]}"


def stable_tag(kind: str) -> str:
    """The name compose files use: 'meshproof/mesh:0.1.0', moved to each new build."""
    repositories = {"mesh": MESH_REPOSITORY, "load": LOAD_REPOSITORY}
    return f"{repositories.get(kind, TOXIPROXY_REPOSITORY)}:{__version__}"


def build_log_error(chunk: dict[str, Any]) -> str | None:
    """The error of one chunk of the build API's answer, if it is one."""
    if "error" in chunk:
        detail = chunk.get("errorDetail") or {}
        return str(detail.get("message") or chunk["error"]).strip()
    return None


# --- building -------------------------------------------------------------------------------


class ImageBuilder:
    """Builds (once per content) and finds meshproof's images in a Docker engine."""

    def __init__(
        self,
        client: Any,
        *,
        base: str = BASE_IMAGE,
        progress: Progress = _quiet,
        compose_dir: Path = COMPOSE_DIR,
        wheelhouse: Path = WHEELHOUSE,
    ) -> None:
        self._client = client
        self.base = base
        self._progress = progress
        self._compose_dir = compose_dir
        self._wheelhouse = wheelhouse

    def ensure(self, *, rebuild: bool = False) -> Images:
        """Both images, built where their tag is missing (or every time with `rebuild`)."""
        self._need_base()
        requirements = pinned_requirements()
        build_wheelhouse(self._wheelhouse, requirements, progress=self._progress)
        mesh = mesh_context(
            self._compose_dir / "Dockerfile",
            self._wheelhouse,
            requirements,
            REPO_ROOT / "mesh_runtime",
        )
        toxiproxy = toxiproxy_context(
            self._compose_dir / "toxiproxy.Dockerfile", find_binary("toxiproxy-server")
        )
        return Images(
            mesh=self._ensure(mesh, mesh_tag(context_digest(mesh)), "mesh", rebuild),
            toxiproxy=self._ensure(
                toxiproxy, toxiproxy_tag(context_digest(toxiproxy)), "toxiproxy", rebuild
            ),
        )

    def ensure_load(self, *, rebuild: bool = False) -> str:
        """The load image (built on the mesh image `ensure` makes), where its tag is missing."""
        mesh = self.ensure(rebuild=rebuild).mesh
        requirements = pinned_requirements(LOAD_REQUIREMENTS)
        wheelhouse = self._wheelhouse.parent / LOAD_WHEELHOUSE.name
        build_wheelhouse(wheelhouse, requirements, progress=self._progress)
        context = load_context(
            self._compose_dir / "load.Dockerfile", wheelhouse, requirements, REPO_ROOT / "harness"
        )
        # The tag names the mesh image too: a new mesh image is a new load image.
        digest = context_digest(context + mesh.encode())
        tag = f"{LOAD_REPOSITORY}:{__version__}-{digest[:12]}"
        return self._ensure(context, tag, "load", rebuild, base=mesh)

    def _need_base(self) -> None:
        if not self._exists(self.base):
            raise DeployError(base_missing_message(self.base))

    def _exists(self, reference: str) -> bool:
        from docker.errors import DockerException, ImageNotFound

        try:
            self._client.images.get(reference)
            return True
        except ImageNotFound:
            return False
        except DockerException as exc:
            raise DeployError(f"docker: cannot look up image {reference}: {exc}") from exc

    def _ensure(
        self, context: bytes, tag: str, kind: str, rebuild: bool, base: str | None = None
    ) -> str:
        if not rebuild and self._exists(tag):
            self._progress(f"image {tag}: present")
        else:
            self._progress(f"building image {tag} ({len(context) // 1024} KiB context)")
            self._build(context, tag, kind, base or self.base)
        self._tag_stable(tag, stable_tag(kind))
        return tag

    def _tag_stable(self, tag: str, stable: str) -> None:
        """Point the stable name (what compose files use) at the image just ensured."""
        from docker.errors import DockerException

        repository, _, name = stable.partition(":")
        try:
            self._client.images.get(tag).tag(repository, name)
        except DockerException as exc:
            raise DeployError(f"docker: cannot tag {tag} as {stable}: {exc}") from exc

    def _build(self, context: bytes, tag: str, kind: str, base: str) -> None:
        from docker.errors import DockerException

        tail: list[str] = []
        try:
            chunks = self._client.api.build(
                fileobj=io.BytesIO(context),
                custom_context=True,
                tag=tag,
                buildargs={"BASE_IMAGE": base},
                labels={IMAGE_LABEL: kind},
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
            )
            for chunk in chunks:
                error = build_log_error(chunk)
                if error is not None:
                    raise DeployError(f"building {tag} failed: {error}\n" + "\n".join(tail[-10:]))
                line = str(chunk.get("stream", "")).strip()
                if line:
                    tail.append(line)
                    if line.startswith("Step "):
                        self._progress(f"{tag}: {line}")
        except DockerException as exc:
            raise DeployError(f"building {tag} failed: {exc}") from exc
