"""A deployment's work dir: made fresh, then filled with its files before any process starts.

The secrets, each file owner-only (0600):
- `control-token`: the control plane's write token (the state file keeps it too);
- `admin-token`: the bearer every sidecar's admin /config_dump and /stats require (the
  state file keeps its path only);
- `ca/bootstrap-secret`: the secret the services' bootstrap credentials derive from; only
  the control plane reads it;
- `credentials/<instance>`: the bootstrap credential of the instance's service, handed to
  that instance's sidecar only, so it can get a certificate for its own service and no
  other (`mesh_runtime.control.credentials`).

`secret_files` is pure (paths and texts); the writers carry them to disk.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.control.credentials import mint_credential
from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes.deployment import InstanceRecord
from mesh_runtime.runtimes.plan import PlanFiles
from mesh_runtime.runtimes.prometheus import scrape_config, write_scrape_config


@dataclass(frozen=True, repr=False)
class DeploymentSecrets:
    """The random values a deployment is guarded by (never printed: no repr)."""

    control_token: str
    admin_token: str
    bootstrap_secret: str

    @classmethod
    def generate(cls) -> DeploymentSecrets:
        return cls(
            control_token=secrets.token_urlsafe(24),
            admin_token=secrets.token_urlsafe(24),
            bootstrap_secret=secrets.token_urlsafe(32),
        )


def secret_files(
    files: PlanFiles, instances: Iterable[InstanceRecord], keys: DeploymentSecrets
) -> dict[Path, str]:
    """Each secret file's path and text; the mesh's ones only when there are sidecars."""
    texts = {files.control_token: keys.control_token}
    sidecars = [record for record in instances if record.admin_port is not None]
    if sidecars:
        texts[files.admin_token] = keys.admin_token
        texts[files.bootstrap_secret] = keys.bootstrap_secret
        for record in sidecars:
            credential = mint_credential(keys.bootstrap_secret, record.service)
            texts[files.credential(record.instance)] = credential
    return texts


def fresh_dir(path: Path) -> None:
    """An empty work dir with its logs folder (a previous deployment's is removed)."""
    try:
        if path.exists():
            shutil.rmtree(path)
        (path / "logs").mkdir(parents=True)
    except OSError as exc:
        raise DeployError(f"{path}: cannot prepare the work dir: {exc.strerror}") from exc


def write_deployment_files(
    files: PlanFiles,
    mesh_config: MeshConfig,
    instances: Iterable[InstanceRecord],
    keys: DeploymentSecrets,
) -> None:
    """The mesh config, every secret file and Prometheus' scrape config."""
    records = list(instances)
    try:
        files.mesh_config.write_text(mesh_config.model_dump_json(indent=2), encoding="utf-8")
        write_secret_files(secret_files(files, records, keys))
    except OSError as exc:
        raise DeployError(f"{files.work_dir}: cannot write the deployment's files: {exc}") from exc
    write_scrape_config(files.prometheus_config, scrape_config(records))


def write_secret_files(texts: Mapping[Path, str]) -> None:
    """Each text in its file, owner-only; folders made owner-only too. Raises OSError."""
    for path, text in texts.items():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a file that was there keeps its mode through O_CREAT
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
