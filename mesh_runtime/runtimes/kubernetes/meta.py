"""What every object of a deployment carries: its metadata (the deployment id label,
`managed-by`, its part and role) and names Kubernetes accepts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mesh_runtime.errors import InvalidInput
from mesh_runtime.runtimes.docker.naming import DEPLOYMENT_LABEL, PART_LABEL, ROLE_LABEL

MANAGED_BY = {"app.kubernetes.io/managed-by": "meshproof"}


Manifest = dict[str, Any]


@dataclass(frozen=True)
class Meta:
    """The deployment id and namespace every object's metadata names."""

    deployment: str
    namespace: str

    def labels(self, part: str | None = None, role: str | None = None) -> dict[str, str]:
        out = {DEPLOYMENT_LABEL: self.deployment, **MANAGED_BY}
        if part is not None:
            out[PART_LABEL] = part
        if role is not None:
            out[ROLE_LABEL] = role
        return out

    def of(self, kind: str, name: str, api_version: str = "v1", **labels: str) -> Manifest:
        return {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
        }


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def check_names(namespace: str, deployment: str) -> None:
    """InvalidInput unless `namespace` is a DNS label and `deployment` a label value."""
    if not _DNS_LABEL.match(namespace):
        raise InvalidInput("--namespace", "", f"{namespace!r} is not a Kubernetes namespace name")
    if not _LABEL_VALUE.match(deployment):
        raise InvalidInput("--deployment-id", "", f"{deployment!r} is not a label value")
