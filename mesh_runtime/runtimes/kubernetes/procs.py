"""Which processes of a pod belong to one of its containers, seen from inside the pod.
Pure: the listing's text in, processes out.

The instance pods share one process namespace (`shareProcessNamespace: true`: the pause
container is PID 1, app and sidecar are ordinary processes a signal reaches). A command
exec'd into a container (`LIST_COMMAND`) prints its own pid and every process's `stat`
and `cgroup` files; the exec'd process joins its container's cgroups, so the container's
processes are exactly those whose cgroup file reads as the command's own. That holds on
cgroup v1 (the paths hold the container id) and on v2 with a private cgroup namespace
(the container's own processes read `0::/`, the others `0::/../<id>`). The container's
main process is the oldest of them whose parent is outside the namespace (ppid 0: its
parent is the runtime's shim; the exec'd command is one too, and is left out).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LIST_COMMAND = (
    "/bin/sh",
    "-c",
    'echo "self $$"; exec grep -sH "" /proc/[0-9]*/stat /proc/[0-9]*/cgroup',
)
"""Run in the target container: `self <pid>`, then `/proc/<pid>/stat:<line>` and
`/proc/<pid>/cgroup:<line>` for every process (grep is one process: nothing it starts
shows up in the listing it is making)."""


def signal_command(signal_name: str, pids: Iterable[int]) -> tuple[str, ...]:
    """The command that sends `signal_name` (KILL, STOP, CONT, TERM) to `pids`: the
    shell's `kill`, which tries every pid even when one is gone."""
    return ("/bin/sh", "-c", f'kill -s {signal_name} "$@"', "kill", *(str(p) for p in pids))


@dataclass(frozen=True)
class PodProcess:
    """One process as the pod's /proc shows it; (pid, start) names it across time."""

    pid: int
    ppid: int
    start: int
    """Start time in clock ticks since boot (stat field 22): a reused pid has another."""
    state: str
    comm: str
    cgroup: str


@dataclass(frozen=True)
class Listing:
    """Every process of the pod, and which one ran the listing."""

    self_pid: int
    processes: tuple[PodProcess, ...]

    def own_container(self) -> list[PodProcess]:
        """The processes of the container the listing ran in, oldest first (not itself)."""
        mine = next((p.cgroup for p in self.processes if p.pid == self.self_pid), None)
        if mine is None:
            raise ValueError(f"the listing has no process {self.self_pid} (its own)")
        found = [p for p in self.processes if p.cgroup == mine and p.pid != self.self_pid]
        return sorted(found, key=lambda p: (p.start, p.pid))

    def main_process(self) -> PodProcess | None:
        """The container's main process: its oldest whose parent is outside the pod's
        process namespace; None when it has none (it is not running)."""
        return next((p for p in self.own_container() if p.ppid == 0), None)


def parse_listing(text: str) -> Listing:
    """The output of LIST_COMMAND; ValueError when it is not one."""
    self_pid: int | None = None
    stats: dict[int, tuple[int, str, str, int]] = {}
    cgroups: dict[int, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("self "):
            self_pid = int(line.split()[1])
            continue
        path, sep, content = line.partition(":")
        parts = path.split("/")
        if not sep or len(parts) != 4 or parts[1] != "proc" or not parts[2].isdigit():
            continue
        pid = int(parts[2])
        if parts[3] == "stat":
            parsed = parse_stat(content)
            if parsed is not None:
                stats[pid] = parsed
        elif parts[3] == "cgroup":
            cgroups.setdefault(pid, []).append(content)
    if self_pid is None:
        raise ValueError("no 'self <pid>' line: not a process listing")
    processes = tuple(
        PodProcess(pid, ppid, start, state, comm, "\n".join(sorted(cgroups.get(pid, []))))
        for pid, (ppid, state, comm, start) in sorted(stats.items())
    )
    return Listing(self_pid, processes)


def parse_stat(line: str) -> tuple[int, str, str, int] | None:
    """(ppid, state, comm, start time) of one /proc/<pid>/stat line; None if torn.

    The command name is in parentheses and may hold spaces and parentheses itself, so
    the fields are counted from the last ')'."""
    open_, close = line.find("("), line.rfind(")")
    if open_ < 0 or close < open_:
        return None
    comm = line[open_ + 1 : close]
    fields = line[close + 1 :].split()
    if len(fields) < 20:
        return None
    try:
        return int(fields[1]), fields[0], comm, int(fields[19])
    except ValueError:
        return None
