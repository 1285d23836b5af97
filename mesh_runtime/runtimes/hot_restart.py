"""What a hot restart of a sidecar needs to know: which process answered, and the kernel.

During a hot restart two sidecar processes listen on the same ports (SO_REUSEPORT): the
new one is started beside the old one, and the old one is told to drain only once the
*new* one answers its admin `/ready` (`{"ready": true, "pid": N}`). Each poll is a fresh
connection, so the kernel hands it to either process; the poller waits until the new pid
(or a child of it, when the sidecar command is a wrapper) is the one that said ready.

When the draining process closes its listener, connections still in that listener's
accept queue are reset, unless the kernel moves them to the other listener of the group:
Linux >= 5.14 does that with `net.ipv4.tcp_migrate_req = 1`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import psutil
import requests

MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


def ready_pid(url: str, timeout: float = 0.5) -> int | None:
    """The pid of the process whose `/ready` at `url` answered 200 with its pid, or None."""
    try:
        response = requests.get(url, timeout=timeout)
        if response.status_code != 200:
            return None
        pid = response.json().get("pid")
    except (requests.RequestException, ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) else None


def process_family(pid: int) -> set[int]:
    """`pid` and every live descendant of it."""
    family = {pid}
    with contextlib.suppress(psutil.Error):
        family.update(child.pid for child in psutil.Process(pid).children(recursive=True))
    return family


def answered_by(pid: int, url: str, ask: Callable[[str], int | None] = ready_pid) -> bool:
    """True once `url`'s ready answer comes from `pid` or one of its descendants."""
    answered = ask(url)
    return answered is not None and answered in process_family(pid)


def migrate_req_warning(value: str | None) -> str | None:
    """A one-line warning unless `value` (the sysctl's text, None: unreadable) is on."""
    if value is not None and value.strip() == "1":
        return None
    state = "not available (Linux < 5.14?)" if value is None else f"{value.strip()}"
    return (
        f"warning: net.ipv4.tcp_migrate_req is {state}: connections waiting in a draining "
        "sidecar's accept queue may be reset during a hot restart "
        "(`sysctl -w net.ipv4.tcp_migrate_req=1`, as .ci/setup.sh does)"
    )


def read_migrate_req(path: Path = MIGRATE_REQ) -> str | None:
    """The sysctl's current text, or None where the kernel has no such setting."""
    try:
        return path.read_text(encoding="ascii")
    except OSError:
        return None
