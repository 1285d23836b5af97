"""Where a run happened: host, Python, meshproof, the sidecar and the tools' versions.

The sidecar's version comes from its admin API (`/config_dump` or `/stats`, a field named
`sidecar_version`, `build_version` or `meshproof_version`; asked with the deployment's admin
token); a sidecar that does not report one is meshproof's own (the reference sidecar ships
with meshproof).
"""

from __future__ import annotations

import platform
import socket
from collections.abc import Callable, Mapping
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.store.model import Environment, TargetRef, ToolVersions
from mesh_runtime import __version__ as MESHPROOF_VERSION
from mesh_runtime.runtimes.admin import admin_headers, admin_json
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.target import TargetFile
from mesh_runtime.tools import tool_version

VERSION_KEYS = ("sidecar_version", "build_version", "meshproof_version", "server_version")
ADMIN_PATHS = ("/config_dump", "/stats")

Fetch = Callable[[str], Mapping[str, Any] | None]


def sidecar_version_of(documents: list[Mapping[str, Any] | None], fallback: str) -> str:
    """The first version field found in the admin documents, else `fallback`. Pure."""
    for document in documents:
        if not isinstance(document, Mapping):
            continue
        for key in VERSION_KEYS:
            value = document.get(key)
            if isinstance(value, str) and value:
                return value
    return fallback


def sidecar_version(deployment: Deployment, fetch: Fetch | None = None) -> str:
    """The version one sidecar of the deployment reports (meshproof's when none); an
    external mesh's proxies are not asked: its kind and target name stand for it."""
    if deployment.target is not None:
        return f"{deployment.target.mesh} (external target {deployment.target.name})"
    record = next((r for r in deployment.instances if r.admin_port), None)
    if record is None:
        return MESHPROOF_VERSION
    if fetch is None:
        fetch = partial(admin_json, headers=admin_headers(deployment.admin_token_file))
    base = f"http://{record.address}:{record.admin_port}"
    documents = [fetch(f"{base}{path}") for path in ADMIN_PATHS]
    return sidecar_version_of(documents, MESHPROOF_VERSION)


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def collect_environment(deployment: Deployment | None) -> Environment:
    """Everything `run.json`'s `environment` holds, asked of the machine and the tools."""
    return Environment(
        hostname=socket.gethostname(),
        python=platform.python_version(),
        meshproof=MESHPROOF_VERSION,
        sidecar_version=sidecar_version(deployment) if deployment else MESHPROOF_VERSION,
        tools=ToolVersions(
            prometheus=tool_version("prometheus"),
            toxiproxy=tool_version("toxiproxy-server"),
            locust=package_version("locust"),
        ),
    )


def target_ref(target: TargetFile, target_file: Path) -> TargetRef:
    """run.json's `target`: the external target file the run was given, and what tells its
    deployment from another's (`TargetRef.identity`). Pure."""
    return TargetRef(
        file=str(target_file), name=target.name, mesh=target.mesh, ingress=target.ingress.url
    )
