"""The files a deployment keeps in its work dir, by what they are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PlanFiles:
    """The files a deployment keeps in its work dir."""

    work_dir: Path

    @property
    def logs(self) -> Path:
        return self.work_dir / "logs"

    @property
    def mesh_config(self) -> Path:
        return self.work_dir / "mesh-config.json"

    @property
    def control_token(self) -> Path:
        return self.work_dir / "control-token"

    @property
    def admin_token(self) -> Path:
        """The bearer token every sidecar's admin /config_dump and /stats require."""
        return self.work_dir / "admin-token"

    @property
    def ca_dir(self) -> Path:
        """The control plane's CA: its root (key 0600) and the bootstrap secret."""
        return self.work_dir / "ca"

    @property
    def bootstrap_secret(self) -> Path:
        """The secret the services' bootstrap credentials derive from (the CA's only)."""
        return self.ca_dir / "bootstrap-secret"

    @property
    def credentials(self) -> Path:
        return self.work_dir / "credentials"

    def credential(self, instance: str) -> Path:
        """The bootstrap credential of `instance`'s service, handed to its sidecar only."""
        return self.credentials / instance

    @property
    def control_state(self) -> Path:
        """The control plane's own record of its config, so a restart resumes it."""
        return self.work_dir / "control-state.json"

    @property
    def spans(self) -> Path:
        return self.work_dir / "spans.jsonl"

    @property
    def prometheus_config(self) -> Path:
        return self.work_dir / "prometheus.yml"

    @property
    def prometheus_data(self) -> Path:
        return self.work_dir / "prometheus-data"

    def log(self, process_name: str) -> Path:
        return self.logs / f"{process_name}.log"
