"""Names and labels of what the docker runtime creates. Pure.

Everything of one deployment carries the label `meshproof.deployment=<id>`, where the id
is the topology's name and a digest of the deployment's work dir: two state roots (a
user's and a test's) never share an id, and `down` finds the same id from the state file
alone, or from the work dir when `up` died before the state file said anything.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

DEPLOYMENT_LABEL = "meshproof.deployment"
PART_LABEL = "meshproof.part"
ROLE_LABEL = "meshproof.role"
IMAGE_LABEL = "meshproof.image"
"""Set on images meshproof built: 'mesh' or 'toxiproxy'."""
MESH_ALIAS_SUFFIX = "-pod"
RUN_REPOSITORY = "meshproof/run"
"""The repository of per-deployment image tags (`meshproof/run:<id>-mesh`)."""


def deployment_id(topology_name: str, work_dir: Path | str) -> str:
    """'shop-1a2b3c4d': the topology and 8 hex digits of the work dir's absolute path."""
    digest = hashlib.sha256(str(Path(work_dir).resolve()).encode()).hexdigest()[:8]
    return f"{topology_name}-{digest}"


def container_name(deployment: str, part: str) -> str:
    """The Docker name of part `part` ('catalog-0-sidecar') of deployment `deployment`."""
    return f"meshproof-{deployment}-{part}"


def network_name(deployment: str) -> str:
    return f"meshproof-{deployment}"


def pod_name(instance: str) -> str:
    """The part holding an instance's network namespace, as Kubernetes' pause container."""
    return f"{instance}{MESH_ALIAS_SUFFIX}"


def run_tag(deployment: str, image: str) -> str:
    """The tag a deployment runs `image` ('mesh' / 'toxiproxy') under; down removes it."""
    return f"{RUN_REPOSITORY}:{deployment}-{image}"


def labels(deployment: str, part: str | None = None, role: str | None = None) -> dict[str, str]:
    out = {DEPLOYMENT_LABEL: deployment}
    if part is not None:
        out[PART_LABEL] = part
    if role is not None:
        out[ROLE_LABEL] = role
    return out
