"""Where a bench's processes run: all over the machine's CPUs, or as two nodes.

`shared` (the default) leaves the scheduler to place every process on any CPU: the load
generator, both proxies, the echo server, the trace sink and the control plane take
turns on this machine's cores and move between them. `two-nodes` splits the CPUs in two
halves, as a client pod's node and a server pod's node: the client side (the load
generator, which is this process's child, and each pair's client proxy) on the first
half, the server side (each pair's server proxy, the echo server) on the second. The
trace sink and the control plane stay unpinned. A process keeps its CPU caches warm
between wake-ups when fewer others run on its CPU and it does not move.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Final, Literal

Layout = Literal["shared", "two-nodes"]
LAYOUTS: Final[tuple[Layout, ...]] = ("shared", "two-nodes")


def halves(cpus: Iterable[int]) -> tuple[set[int], set[int]]:
    """The client side's CPUs and the server side's: the sorted CPUs cut in two (one CPU
    each on a 2-CPU machine)."""
    ordered = sorted(cpus)
    if len(ordered) < 2:
        raise ValueError(f"two-nodes needs at least 2 CPUs, this process may use {ordered}")
    middle = len(ordered) // 2
    return set(ordered[:middle]), set(ordered[middle:])


def side(role: str) -> Literal["client", "server"]:
    """A bench process's side by its role name ('mtls-sidecar-server', 'haproxy-client')."""
    return "server" if role.endswith("server") else "client"


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process `pid` onto `cpus` (a Go or threaded process has many)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(tid), cpus)


@contextmanager
def two_nodes(roles: Mapping[str, int], server_side: Iterable[int]) -> Iterator[str]:
    """Pin this process (and so the load generator it starts) and `roles`' client-side
    processes to the first half of the CPUs, the server-side ones and `server_side`
    (the echo server's pids) to the second; all back to every CPU on exit. Yields a line
    saying so."""
    everything = os.sched_getaffinity(0)
    client_cpus, server_cpus = halves(everything)
    placed = [
        (pid, server_cpus if side(role) == "server" else client_cpus) for role, pid in roles.items()
    ]
    placed += [(pid, server_cpus) for pid in server_side]
    try:
        os.sched_setaffinity(0, client_cpus)
        for pid, cpus in placed:
            pin(pid, cpus)
        yield (
            f"layout two-nodes: client side (load, client proxies) on CPUs {_cpus(client_cpus)},"
            f" server side (server proxies, echo server) on CPUs {_cpus(server_cpus)}"
        )
    finally:
        os.sched_setaffinity(0, everything)
        for pid, _ in placed:
            with contextlib.suppress(FileNotFoundError):  # already gone
                pin(pid, everything)


def _cpus(cpus: set[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))
