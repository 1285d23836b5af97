"""The fault ledger: every fault is written down, with its rollback, before it is applied.

A ledger is a JSON-lines file (`<run dir>/faults.ledger.jsonl`) of two kinds of line:

    {"op": "begin", "name": "catalog-503", "at": 1700000000.1, "entry": {...rollback...}}
    {"op": "done", "name": "catalog-503", "at": 1700000030.4}

The `entry` is a `RollbackEntry` (harness.faults.steps) as JSON. A `begin` line is fsynced
before the fault touches anything, so whatever kills the harness (an exception, SIGINT,
SIGKILL, a power cut) leaves a file from which every fault still in effect can be undone. A torn last line (the harness died while writing it) is ignored: the
fault it describes was not applied yet.

A ledger is registered under `<state root>/ledgers/` while its run is going, so that
`meshproof recover` finds the ledgers of runs whose harness died; the registration is
removed when the run finished cleanly.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from harness.errors import FaultError
from harness.faults.steps import RollbackEntry
from mesh_runtime.errors import MeshproofError
from mesh_runtime.runtimes.deployment import state_root

LEDGER_FILE = "faults.ledger.jsonl"
REGISTRY_DIR = "ledgers"

EntryExecutor = Callable[[Mapping[str, Any]], None]
"""Undoes one rollback entry as the ledger holds it (harness.faults.undo.RollbackExecutor)."""
Reporter = Callable[[str, Exception | None], None]
"""Told the outcome of each rollback: the fault's name and the error, or None."""


@dataclass(frozen=True)
class LedgerEntry:
    name: str
    entry: dict[str, Any]
    """The RollbackEntry as JSON; the executor reads each step (one unreadable step does
    not keep the others from being undone)."""
    began_at: float


@dataclass(frozen=True)
class Registration:
    """One registered ledger: where it is and which harness process wrote it."""

    file: Path
    ledger: Path
    pid: int
    create_time: float

    def owner_alive(self) -> bool:
        """True when the harness that registered the ledger is still running."""
        return process_alive(self.pid, self.create_time)


class FaultLedger:
    """An append-only, fsynced record of the faults in effect and how to undo them."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._registration: Path | None = None

    def begin(self, name: str, entry: RollbackEntry) -> None:
        """Record that fault `name` is about to be applied; durable when this returns."""
        record = {"op": "begin", "name": name, "at": self._clock(), "entry": entry.to_json()}
        self._append(record)

    def done(self, name: str) -> None:
        """Record that fault `name` was reverted (or rolled back)."""
        self._append({"op": "done", "name": name, "at": self._clock()})

    def pending(self) -> list[LedgerEntry]:
        """Faults begun and not done, oldest first, as the file says."""
        return pending_entries(self._lines())

    def rollback_all(self, executor: EntryExecutor, report: Reporter | None = None) -> list[str]:
        """Undo every pending fault, newest first, each at most once.

        A failing rollback does not stop the others; it stays pending (so that a later
        `meshproof recover` tries again) and all failures are raised together as one
        FaultError. Returns the names undone.
        """
        undone: list[str] = []
        failures: list[str] = []
        for item in reversed(self.pending()):
            try:
                executor(item.entry)
            except Exception as exc:  # every failure is collected, none stops the others
                failures.append(f"{item.name}: {_describe(exc)}")
                if report is not None:
                    report(item.name, exc)
                continue
            self.done(item.name)
            undone.append(item.name)
            if report is not None:
                report(item.name, None)
        if failures:
            raise FaultError(
                f"{self.path}: {len(failures)} fault(s) could not be rolled back: "
                + "; ".join(failures)
            )
        return undone

    def register(self, root: Path | None = None) -> Path:
        """Register this ledger under `<root>/ledgers/` so `meshproof recover` finds it."""
        folder = (root or state_root()) / REGISTRY_DIR
        me = psutil.Process()
        record = {
            "ledger": str(self.path.resolve()),
            "pid": me.pid,
            "create_time": me.create_time(),
        }
        target = folder / f"{registration_id(self.path)}.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, json.dumps(record, indent=2))
        except OSError as exc:
            raise FaultError(f"{target}: cannot register the fault ledger: {exc.strerror}") from exc
        self._registration = target
        return target

    def unregister(self) -> None:
        """Remove the registration (the run finished cleanly, nothing is left to undo)."""
        if self._registration is not None:
            unregister(self._registration)
            self._registration = None

    def _append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n"
        with self._lock:
            try:
                self._write_line(line)
            except OSError as exc:
                raise FaultError(f"{self.path}: cannot write the fault ledger: {exc}") from exc

    def _write_line(self, line: str) -> None:
        created = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)

    def _lines(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise FaultError(f"{self.path}: cannot read the fault ledger: {exc.strerror}") from exc
        return parse_lines(text)


def parse_lines(text: str) -> list[dict[str, Any]]:
    """The ledger's records; lines that are not whole JSON objects (a torn tail) are skipped."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("name"), str):
            records.append(record)
    return records


def pending_entries(records: list[dict[str, Any]]) -> list[LedgerEntry]:
    """Begun and not done, in the order they began (a name begun again is pending again)."""
    open_: dict[str, LedgerEntry] = {}
    for record in records:
        name = record["name"]
        if record.get("op") == "begin" and isinstance(record.get("entry"), dict):
            open_.pop(name, None)
            open_[name] = LedgerEntry(name, record["entry"], float(record.get("at", 0.0)))
        elif record.get("op") == "done":
            open_.pop(name, None)
    return list(open_.values())


def registration_id(ledger: Path) -> str:
    """A stable file name for a ledger's registration: run dir name + a path digest."""
    digest = hashlib.sha1(str(ledger.resolve()).encode("utf-8")).hexdigest()[:10]
    return f"{ledger.resolve().parent.name}-{digest}"


def registrations(root: Path | None = None) -> list[Registration]:
    """Every ledger registered under `<root>/ledgers/`, oldest file name first."""
    folder = (root or state_root()) / REGISTRY_DIR
    if not folder.is_dir():
        return []
    out = []
    for file in sorted(folder.glob("*.json")):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            out.append(
                Registration(
                    file=file,
                    ledger=Path(data["ledger"]),
                    pid=int(data["pid"]),
                    create_time=float(data["create_time"]),
                )
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FaultError(f"{file}: not a fault ledger registration ({exc})") from None
    return out


def unregister(file: Path) -> None:
    try:
        file.unlink(missing_ok=True)
    except OSError as exc:
        raise FaultError(f"{file}: cannot remove the ledger registration: {exc.strerror}") from exc


def process_alive(pid: int, create_time: float) -> bool:
    """True when `pid` runs and is the process that had `create_time` (not a reused pid)."""
    try:
        process = psutil.Process(pid)
        same = abs(process.create_time() - create_time) < 0.01
        return same and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _describe(exc: Exception) -> str:
    if isinstance(exc, MeshproofError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
