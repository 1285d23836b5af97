"""Whether a `running` run is still running: its harness process, looked for on this host.

A run's run.json says `running` from its start until the harness records its end. A
harness that is SIGKILLed (a CI job's timeout, the OOM killer, a reboot) never does, so
the file alone cannot tell a live run from a dead one. run.json therefore names its
harness (`RunRecord.harness`: pid, start time, boot id, host), and every reader asks
`run_state` what the run is now:

    running    its harness runs (or run.json predates `harness`: nothing to check)
    aborted    its harness is gone: the pid is free, is another process (started at
               another time) or the host rebooted since (another boot id)
    running    started on another host: it cannot be checked from here (said in `note`)

`harness_state` is the pure decision; `Host.here()` reads /proc. `meshproof recover`
writes the `aborted` into run.json (`HARNESS_DIED`), after rolling the faults back.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.store.model import HarnessProcess, RunRecord

HarnessState = Literal["alive", "gone", "elsewhere", "unknown"]

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
PROC = Path("/proc")


def harness_died(harness: HarnessProcess) -> str:
    """run.json's `error` for a run whose harness died (an aborted run's, `aborted: ...`)."""
    return (
        f"aborted: the harness (pid {harness.pid}) died before the run ended"
        " (killed, out of memory, or the machine stopped)"
    )


RECOVER_HINT = "`meshproof recover` rolls back the faults it left and records the run's end"


@dataclass(frozen=True)
class RunState:
    """What a run is now: its status (run.json's, unless its harness is gone) and a note
    saying why it differs from run.json or what cannot be known from here."""

    status: str
    note: str = ""
    died: bool = False

    def applied(self, record: RunRecord) -> RunRecord:
        """`record` as it stands now: a dead harness's run is aborted, with why."""
        if not self.died:
            return record
        return record.model_copy(update={"status": self.status, "error": self.note})


@dataclass(frozen=True)
class Host:
    """This host as the decision needs it: its name, its boot, and a pid's start time."""

    hostname: str
    boot_id: str
    proc: Path = PROC

    @classmethod
    def here(cls) -> Host:
        return cls(socket.gethostname(), read_boot_id())

    def start_ticks(self, pid: int) -> int | None:
        """The start of process `pid` (clock ticks after boot); None when there is no such
        process (or only its zombie: it has ended)."""
        return start_ticks(pid, self.proc)


def harness_state(
    harness: HarnessProcess | None, hostname: str, boot_id: str, started: int | None
) -> HarnessState:
    """Whether the run's `harness` still runs, given this host's name and boot id and
    `started`, the start ticks of the process now holding its pid (None: none). Pure."""
    if harness is None:
        return "unknown"
    if harness.hostname != hostname:
        return "elsewhere"
    if harness.boot_id and boot_id and harness.boot_id != boot_id:
        return "gone"  # rebooted since: no process of that boot runs
    if harness.start_ticks is None:
        return "unknown"  # no /proc where it ran: nothing to tell its process by
    return "alive" if started == harness.start_ticks else "gone"  # None: no such pid


def run_state(record: RunRecord, host: Host | None = None) -> RunState:
    """What the run in `record` is now, seen from `host` (this one by default)."""
    harness = record.harness
    if record.status != "running" or harness is None:
        return RunState(record.status)
    host = host or Host.here()
    state = harness_state(harness, host.hostname, host.boot_id, host.start_ticks(harness.pid))
    if state == "gone":
        return RunState("aborted", f"{harness_died(harness)}; {RECOVER_HINT}", died=True)
    if state == "elsewhere":
        return RunState(
            "running",
            f"started on host {harness.hostname} (pid {harness.pid}): whether it still"
            " runs cannot be checked from here",
        )
    return RunState("running")


def seen_here(record: RunRecord, host: Host | None = None) -> RunRecord:
    """`record` as it stands now: `running` with its harness gone becomes `aborted`."""
    return run_state(record, host).applied(record)


def this_harness() -> HarnessProcess:
    """The calling process, as run.json's `harness` names it."""
    pid = os.getpid()
    return HarnessProcess(
        pid=pid,
        hostname=socket.gethostname(),
        boot_id=read_boot_id(),
        start_ticks=start_ticks(pid),
    )


def read_boot_id(file: Path = BOOT_ID) -> str:
    try:
        return file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def start_ticks(pid: int, proc: Path = PROC) -> int | None:
    """Field 22 of /proc/<pid>/stat (its start, in clock ticks after boot); None when the
    process does not exist, is a zombie, or /proc cannot say."""
    try:
        text = (proc / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces or ')'
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[19])
    except ValueError:
        return None
