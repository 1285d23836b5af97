"""What each proxy of the mesh bench's pairs asks of the kernel, per request.

    python -m harness.bench.syscalls [--rps 1000] [--connections 16] [--seconds 8]
                                     [--no-mtls] [--baseline REV]

The mesh bench's set-ups (`pairs.py`: HAProxy's pair, the sidecar pair plain and with
mTLS; with `--baseline`, REV's sidecar pairs beside) carry fortio's constant-rate load in
turn while `perf stat` counts, for each proxy process (every thread), its system calls by
kind (the `syscalls:sys_enter_*` tracepoints), the epoll waits that returned no event or
more than one, the reads that returned EAGAIN and its context switches; /proc gives its
user and system CPU time and its main thread's voluntary and involuntary switches.
Everything is reported per request answered. An epoll wait is a wake-up of the loop (or a
poll with a zero timeout that found nothing); on a busy host a proxy that falls behind
handles several messages a wake-up, so the waits per request fall with the load while
the reads and writes per request do not. Counting tracepoints costs each system call a
little: the CPU figures here are for context, the mesh bench's are the ones to compare.
Needs `perf` with tracepoints readable (root, or `perf_event_paranoid` <= -1).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from harness.bench.fortio_rounds import fortio_load
from harness.bench.mesh import print_request_paths
from harness.bench.pairs import (
    Target,
    haproxy_pair,
    request_paths,
    revision_tree,
    sidecar_pairs,
    trace_sink,
)
from harness.bench.procs import fortio_server
from mesh_runtime.tools import find_binary

FILTERED: tuple[tuple[str, str, str], ...] = (
    ("read EAGAIN", "syscalls:sys_exit_read", "ret == -11"),
    ("recvfrom EAGAIN", "syscalls:sys_exit_recvfrom", "ret == -11"),
    ("epoll_wait 0 events", "syscalls:sys_exit_epoll_wait", "ret == 0"),
    ("epoll_pwait 0 events", "syscalls:sys_exit_epoll_pwait", "ret == 0"),
    ("epoll_wait >1 events", "syscalls:sys_exit_epoll_wait", "ret > 1"),
    ("epoll_pwait >1 events", "syscalls:sys_exit_epoll_pwait", "ret > 1"),
)
"""(label, tracepoint, filter): system call returns counted apart."""
SOFTWARE = ("context-switches", "cpu-migrations", "page-faults")
WARM_S = 2.0
SETTLE_S = 0.5
"""perf's start-up, before the load begins."""

SHOWN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("syscalls", ("all",)),
    ("reads", ("read", "recvfrom", "readv", "recvmsg")),
    ("writes", ("write", "sendto", "writev", "sendmsg")),
    ("epoll waits", ("epoll_wait", "epoll_pwait", "epoll_pwait2")),
    ("  of them empty", ("epoll_wait 0 events", "epoll_pwait 0 events")),
    ("  of them >1 event", ("epoll_wait >1 events", "epoll_pwait >1 events")),
    ("epoll_ctl", ("epoll_ctl", "io_uring_enter")),
    ("EAGAIN reads", ("read EAGAIN", "recvfrom EAGAIN")),
    ("get/setsockopt", ("getsockopt", "setsockopt")),
    ("getpid", ("getpid",)),
    ("clock_gettime", ("clock_gettime",)),
    ("context switches", ("context-switches",)),
    ("page faults", ("page-faults",)),
    ("voluntary (main)", ("voluntary",)),
    ("involuntary (main)", ("involuntary",)),
    ("user CPU us", ("user_us",)),
    ("system CPU us", ("system_us",)),
)
"""The table's rows: a label and the counts summed into it."""


def perf_command(perf: str, pid: int, out: Path) -> list[str]:
    """`perf stat` of every thread of `pid`, CSV into `out`, until interrupted."""
    command = [perf, "stat", "-x,", "-o", str(out), "-p", str(pid)]
    command += ["-e", "raw_syscalls:sys_enter", "-e", "syscalls:sys_enter_*"]
    for name in SOFTWARE:
        command += ["-e", name]
    for _, event, condition in FILTERED:
        command += ["-e", event, "--filter", condition]
    return command


def parse_perf_stat(text: str) -> dict[str, float]:
    """Counts by name from `perf stat -x,` output: a system call by its name ('all' for
    every one), a filtered return by its FILTERED label (in the order given), software
    events by theirs. Zero and uncounted events are left out."""
    counts: dict[str, float] = {}
    filtered = iter(FILTERED)
    for line in text.splitlines():
        fields = line.split(",")
        if line.startswith("#") or len(fields) < 3:
            continue
        event = fields[2]
        label = event
        if event.startswith("syscalls:sys_exit_"):
            label, expected, _ = next(filtered)
            if expected != event:
                raise ValueError(f"perf listed {event} where {expected} was expected")
        elif event == "raw_syscalls:sys_enter":
            label = "all"
        else:
            label = event.removeprefix("syscalls:sys_enter_")
        try:
            value = float(fields[0])
        except ValueError:  # "<not counted>", "<not supported>"
            continue
        if value:
            counts[label] = value
    return counts


@dataclass(frozen=True)
class ProcTimes:
    """A process's CPU time and its main thread's context switches, from /proc."""

    user_s: float
    system_s: float
    voluntary: int
    involuntary: int

    @classmethod
    def read(cls, pid: int) -> ProcTimes:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        switches = {}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.endswith("ctxt_switches"):
                switches[name] = int(value)
        return cls(
            int(stat[11]) / tick,
            int(stat[12]) / tick,
            switches["voluntary_ctxt_switches"],
            switches["nonvoluntary_ctxt_switches"],
        )

    def since(self, before: ProcTimes) -> dict[str, float]:
        return {
            "user_us": (self.user_s - before.user_s) * 1e6,
            "system_us": (self.system_s - before.system_s) * 1e6,
            "voluntary": self.voluntary - before.voluntary,
            "involuntary": self.involuntary - before.involuntary,
        }


def count(target: Target, rps: float, connections: int, seconds: float, work: Path) -> Counted:
    """One warmed fortio run against `target` under `perf stat`; per-request counts by
    proxy role."""
    fortio_load(target.url, target.host, rps, connections, WARM_S)
    perf = str(find_binary("perf"))
    outs = {role: work / f"perf-{target.name}-{role}.csv" for role in target.pids}
    before = {role: ProcTimes.read(pid) for role, pid in target.pids.items()}
    with ExitStack() as stack:
        counters = [
            stack.enter_context(
                subprocess.Popen(perf_command(perf, pid, outs[role]), stderr=subprocess.DEVNULL)
            )
            for role, pid in target.pids.items()
        ]
        time.sleep(SETTLE_S)
        result = fortio_load(target.url, target.host, rps, connections, seconds)
        for counter in counters:
            counter.send_signal(signal.SIGINT)
    requests = sum(int(v) for v in result.get("RetCodes", {}).values())
    per_request: dict[str, dict[str, float]] = {}
    for role, pid in target.pids.items():
        counts: dict[str, float] = {
            **parse_perf_stat(outs[role].read_text()),
            **ProcTimes.read(pid).since(before[role]),
        }
        per_request[role] = {name: value / max(1, requests) for name, value in counts.items()}
    return Counted(target.name, float(result["ActualQPS"]), requests, per_request)


@dataclass(frozen=True)
class Counted:
    name: str
    qps: float
    requests: int
    per_request: dict[str, dict[str, float]]
    """Per proxy role: count name -> per request answered."""


def table(results: Sequence[Counted]) -> str:
    """Rows of SHOWN, a column per proxy."""
    columns = [(c, role) for c in results for role in c.per_request]
    lines = ["per request".ljust(20) + "".join(f"{role:>26}" for _, role in columns)]
    for label, names in SHOWN:
        values = [sum(c.per_request[role].get(n, 0.0) for n in names) for c, role in columns]
        digits = 0 if label.endswith(" us") else 3
        lines.append(label.ljust(20) + "".join(f"{v:26.{digits}f}" for v in values))
    return "\n".join(lines)


def _targets(stack: ExitStack, work: Path, mtls: bool, baseline: str | None) -> Iterator[Target]:
    upstream = int(stack.enter_context(fortio_server()).rsplit(":", 1)[1])
    otlp = stack.enter_context(trace_sink(work))
    yield stack.enter_context(haproxy_pair(upstream, work))
    old = revision_tree(baseline, work) if baseline is not None else None
    print_request_paths(request_paths(old))
    yield from sidecar_pairs(stack, upstream, work, otlp, mtls, old)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.syscalls", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rps", type=float, default=1000.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--no-mtls", action="store_true", help="leave the mTLS pair out")
    parser.add_argument("--baseline", metavar="REV", help="REV's sidecar pairs beside")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="meshproof-syscalls-") as tmp, ExitStack() as stack:
        for target in _targets(stack, Path(tmp), not args.no_mtls, args.baseline):
            counted = count(target, args.rps, args.connections, args.seconds, Path(tmp))
            results.append(counted)
            print(
                f"  {counted.name:15} {counted.qps:6.0f} rps, {counted.requests} requests"
                f"  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
