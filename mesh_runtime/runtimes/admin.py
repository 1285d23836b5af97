"""Reading a sidecar's guarded admin endpoints (`/config_dump`, `/stats`).

A deployment's sidecars take `--admin-token-file`; whoever reads those endpoints shows the
same token as `Authorization: Bearer`. The token is read from its file when needed and
kept nowhere else: the state file and the run directory hold at most the file's path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from mesh_runtime.errors import DeployError


def admin_headers(token_file: str | Path | None) -> dict[str, str]:
    """The header a guarded admin endpoint needs ({} when the deployment has no token)."""
    if token_file is None:
        return {}
    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise DeployError(f"{token_file}: cannot read the admin token: {exc.strerror}") from None
    return {"Authorization": f"Bearer {token}"} if token else {}


def admin_json(
    url: str, headers: Mapping[str, str], timeout: float = 2.0
) -> Mapping[str, Any] | None:
    """GET a JSON object from a sidecar's admin URL; None on any failure or non-200."""
    try:
        response = requests.get(url, headers=dict(headers), timeout=timeout)
        document = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None
    return document if isinstance(document, Mapping) else None
