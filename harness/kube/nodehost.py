"""The host commands a single-node cluster makes and undoes its changes with: `ip`,
`iptables-save`, `umount`, and a readiness probe over HTTP."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterable
from pathlib import Path

from mesh_runtime.errors import DeployError


def run_on_host(command: Iterable[str]) -> None:
    command = list(command)
    answer = subprocess.run(command, capture_output=True, check=False)
    if answer.returncode != 0:
        raise DeployError(f"{' '.join(command)}: {answer.stderr.decode().strip()}")


def filter_rules() -> str:
    """`iptables-save -t filter`: the host's filter table as rules."""
    answer = subprocess.run(
        ["iptables-save", "-t", "filter"], capture_output=True, text=True, check=False
    )
    return answer.stdout


def unmount_under(folder: Path) -> None:
    """Unmount what the kubelet and containerd left mounted under `folder`, deepest first
    (the kubelet bind-mounts its root dir onto itself)."""
    prefix = str(folder.resolve()) + "/"
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def delete_link(name: str) -> None:
    with contextlib.suppress(OSError):
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)


def http_ok(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False
