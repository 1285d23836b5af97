"""CustomResourceDefinitions: read from the files `make setup` took from each project's Go
module, installed into an API server, waited on until the server serves them.

`make setup` links `.tools/kube/crds/` to the cached set: one folder per project (istio,
gateway-api, linkerd, consul) and SOURCES.tsv naming the module, version and file each
came from (see DEVELOPING.md, "Kubernetes API server in the tests").
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mesh_runtime.errors import InvalidInput, ReadinessTimeout
from mesh_runtime.kube.client import KubeClient
from mesh_runtime.kube.errors import KubeConflict
from mesh_runtime.kube.resources import CRD
from mesh_runtime.runtimes.readiness import Deadline, wait_until

# libyaml's loader when PyYAML has it: the pinned CRDs are 1.7 MB of YAML, ~5 s in pure Python.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
CRDS_DIR_ENV = "MESHPROOF_KUBE_CRDS"
REPO_ROOT = Path(__file__).resolve().parents[2]


def default_crd_dir(environ: Mapping[str, str] | None = None, repo_root: Path = REPO_ROOT) -> Path:
    """`$MESHPROOF_KUBE_CRDS`, else `<repo>/.tools/kube/crds` (where `make setup` links them)."""
    env = os.environ if environ is None else environ
    return Path(env[CRDS_DIR_ENV]) if env.get(CRDS_DIR_ENV) else repo_root / ".tools/kube/crds"


def crd_files(directory: Path) -> list[Path]:
    """Every `*.yaml` under `directory`, sorted (so installs are repeatable)."""
    return sorted(directory.rglob("*.yaml"))


def load_crds(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """The CustomResourceDefinition documents in `paths` (other kinds and empty documents skipped)."""
    crds: list[dict[str, Any]] = []
    for path in paths:
        try:
            documents = list(yaml.load_all(path.read_text(), Loader=_SAFE_LOADER))
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(str(path), "", f"not readable YAML: {exc}") from exc
        crds.extend(
            doc
            for doc in documents
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
        )
    return crds


def crd_name(crd: Mapping[str, Any]) -> str:
    return str(crd["metadata"]["name"])


def apply_crds(kube: KubeClient, crds: Sequence[Mapping[str, Any]]) -> list[str]:
    """Create each CRD, or replace the one already there; returns their names."""
    for crd in crds:
        try:
            kube.create(CRD, None, crd)
        except KubeConflict:
            current = kube.get(CRD, None, crd_name(crd))
            body = {**crd, "metadata": {**crd["metadata"], **_version_of(current)}}
            kube.replace(CRD, None, body)
    return [crd_name(crd) for crd in crds]


def _version_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return {"resourceVersion": obj["metadata"]["resourceVersion"]}


def is_established(crd: Mapping[str, Any]) -> bool:
    """True when the CRD's names are accepted and the server serves it (condition Established)."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    ready = {c.get("type") for c in conditions if c.get("status") == "True"}
    return {"Established", "NamesAccepted"} <= ready


def wait_established(kube: KubeClient, names: Iterable[str], timeout_s: float = 60.0) -> None:
    """Wait until every named CRD is Established; ReadinessTimeout names those that are not."""
    pending = list(names)
    deadline = Deadline.after(timeout_s)

    def all_established() -> bool:
        pending[:] = [n for n in pending if not is_established(kube.get(CRD, None, n))]
        return not pending

    if wait_until(all_established, deadline, interval=0.1) != "ready":
        shown = ", ".join(pending[:5]) + (
            f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        )
        raise ReadinessTimeout(f"CRDs not Established after {timeout_s:.0f}s: {shown}")


def install_crds(kube: KubeClient, paths: Iterable[Path], timeout_s: float = 60.0) -> list[str]:
    """Apply the CRDs in `paths` and wait until the server serves every one; their names."""
    names = apply_crds(kube, load_crds(paths))
    wait_established(kube, names, timeout_s)
    return names
