"""Helpers of the engine's integration tests: the harness as a child process, polling."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from tests.conftest import HARNESS_GRACE_S, poll, stop_group

ROOT = Path(__file__).resolve().parents[3]
SHOP = ROOT / "experiments" / "topologies" / "shop.yaml"


class HarnessProcess:
    """`python -m harness.cli.main ARGS` in a child process of its own process group."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.cli.main", *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def stop(self) -> None:
        """Stop it as a user does if it still runs: SIGTERM, so it rolls its faults back and
        tears its deployment down (which a SIGKILL of its group never reaches), SIGKILL
        after `HARNESS_GRACE_S`."""
        stop_group(self.proc, signal.SIGTERM, HARNESS_GRACE_S)
        self._log.close()

    def kill_group(self) -> None:
        """SIGKILL its process group: a harness that dies without cleaning up."""
        stop_group(self.proc, signal.SIGKILL, 30)
        self._log.close()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    return poll(predicate, timeout, 0.2, what)


def ledger_begun(out: Path) -> set[str]:
    """Fault names with a `begin` line in the ledgers of the runs under `out`."""
    names: set[str] = set()
    for ledger in out.glob("*/faults.ledger.jsonl"):
        for line in ledger.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("op") == "begin":
                names.add(record["name"])
    return names


def processes_mentioning(*parts: str) -> list[psutil.Process]:
    """Live (not zombie) processes whose command line holds every one of `parts`."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if all(part in cmdline for part in parts):
            found.append(proc)
    return found
