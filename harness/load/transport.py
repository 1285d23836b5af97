"""Per-request records from a Locust worker to its master, in Locust's own messages.

A worker may run on another machine (`meshproof load-worker --master HOST:PORT`): it
shares no directory with the master. So a worker writes no file; it ships, in one custom
Locust message (`BATCH_MESSAGE`, sent with `runner.send_message`, registered on the master
with `runner.register_message`), each second or whenever `MAX_BATCH_BYTES` of records are
waiting: the record lines and HDR histogram lines since the last batch (UTF-8, not
compressed: zlib cost a worker 4.7 us a record, 7 % of its budget at 15 000 RPS, for
~200 bytes a record, 3 MB/s a worker at that rate), numbered, and its status snapshot. The master alone writes the load directory: it appends
a batch's lines to `requests-w<i>.jsonl` / `latency-w<i>.hlog` and replaces
`load-status-w<i>.json` (`MasterFiles`). Messages of one worker arrive in order over its
one connection, so once a status saying `done` is written, every record of that worker is
on disk before it. A batch names its `format` (`BATCH_FORMAT`): a worker of another
meshproof version, whose batches this master cannot read, is refused and named lost
(its records unsent), never appended as garbage. `Batcher` and `MasterFiles` are plain Python, tested without Locust.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.load.files import write_status
from harness.load.hdr import HEADER, histogram_file

BATCH_MESSAGE = "meshproof_batch"
BATCH_FORMAT = 2
"""1: records and histogram lines zlib-compressed (no `format` key); 2: UTF-8 as is."""
MAX_BATCH_BYTES = 1 << 20
"""Uncompressed record bytes that make a worker ship before its once-a-second batch."""


def master_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (an IPv6 address in brackets) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host, int(port)


LOCUST_PORT = 5557
"""Where a master given an address without a port listens (Locust's own default)."""


def bind_address(text: str) -> tuple[str, int]:
    """`ADDR` or `ADDR:PORT` (`[V6]:PORT`) -> (address, port); the port defaults to
    `LOCUST_PORT`."""
    if text.startswith("[") or text.count(":") == 1:
        return master_address(text)
    if not text:
        raise ValueError("an empty address")
    return text, LOCUST_PORT


def records_file(work_dir: Path, worker: int) -> Path:
    return work_dir / f"requests-w{worker}.jsonl"


def status_file(work_dir: Path, worker: int) -> Path:
    return work_dir / f"load-status-w{worker}.json"


class Batcher:
    """A worker's outgoing records and histogram lines, cut into numbered batches."""

    def __init__(self, worker: int) -> None:
        self.worker = worker
        self._records: list[str] = []
        self._record_bytes = 0
        self._hdr: list[str] = []
        self.seq = 0
        self.shipped = 0
        """Records put into batches so far (what this worker sent its master)."""
        self.batches = 0

    def add_record(self, line: str) -> None:
        self._records.append(line)
        self._record_bytes += len(line)

    def add_hdr(self, line: str) -> None:
        self._hdr.append(line)

    @property
    def waiting(self) -> int:
        """Records added and not yet in a batch."""
        return len(self._records)

    @property
    def full(self) -> bool:
        return self._record_bytes >= MAX_BATCH_BYTES

    def take(self, status: dict[str, Any] | None) -> dict[str, Any]:
        """The next batch (the message's data): everything waiting, and `status`."""
        count = len(self._records)
        batch = {
            "format": BATCH_FORMAT,
            "worker": self.worker,
            "seq": self.seq,
            "count": count,
            "records": _pack(self._records),
            "hdr": _pack(self._hdr),
            "status": status,
        }
        self._records, self._record_bytes, self._hdr = [], 0, []
        self.seq += 1
        self.shipped += count
        self.batches += 1
        return batch


def _pack(lines: list[str]) -> bytes:
    return "".join(lines).encode("utf-8")


@dataclass
class WorkerBooks:
    """What the master received from one worker."""

    index: int
    client_id: str
    records: int = 0
    batches: int = 0
    next_seq: int = 0
    gaps: int = 0
    """Batches that never arrived (a sequence number skipped)."""
    done: bool = False
    lost_at: float | None = None
    """Wall-clock time the master found it gone before it was done."""
    refused: int = 0
    """Records in batches of a format this master cannot read (another version's worker)."""
    refused_batches: int = 0
    """Batches refused for their format (the master says why once, at the first)."""


@dataclass
class MasterFiles:
    """The master's side: a batch's lines appended to the worker's files, its status saved."""

    work_dir: Path
    books: dict[int, WorkerBooks] = field(default_factory=dict)

    def receive(self, client_id: str, batch: dict[str, Any], now: float) -> WorkerBooks:
        """Append a batch received at `now`; a batch of another format is refused, and
        its worker named lost."""
        index = int(batch["worker"])
        books = self.books.get(index)
        if books is None:
            books = self.books[index] = WorkerBooks(index, client_id)
        if batch.get("format") != BATCH_FORMAT:
            books.refused += int(batch.get("count", 0))
            books.refused_batches += 1
            books.lost_at = books.lost_at or now
            return books
        seq = int(batch["seq"])
        if seq != books.next_seq:
            books.gaps += max(0, seq - books.next_seq)
        books.next_seq = seq + 1
        records = batch["records"]
        if records:
            with records_file(self.work_dir, index).open("ab") as handle:
                handle.write(records)
        hdr = batch["hdr"]
        if hdr:
            path = histogram_file(self.work_dir, index)
            with path.open("ab") as handle:
                if handle.tell() == 0:
                    handle.write(HEADER.encode("ascii"))
                handle.write(hdr)
        books.records += int(batch["count"])
        books.batches += 1
        status = batch.get("status")
        if status is not None:
            status = {**status, "received": books.records, "client_id": client_id}
            books.done = bool(status.get("done"))
            write_status(status_file(self.work_dir, index), status)
        return books

    @staticmethod
    def refusal(books: WorkerBooks, batch: dict[str, Any]) -> str | None:
        """What to say when `batch`, just received, is the first of its worker's batches
        refused for their format; None otherwise (said once a worker)."""
        if batch.get("format") == BATCH_FORMAT or books.refused_batches != 1:
            return None
        return (
            f"worker w{books.index} ({books.client_id}) refused: its batches are format"
            f" {batch.get('format', 1)}, this master reads {BATCH_FORMAT} (run the same"
            " meshproof version on the workers as on the master)"
        )

    def enroll(self, index: int, client_id: str) -> None:
        """A worker the spawn went to: in the roster before its first batch arrives."""
        self.books.setdefault(index, WorkerBooks(index, client_id))

    def mark_lost(self, present: set[str], now: float) -> list[WorkerBooks]:
        """Workers not done whose Locust client is no longer `present` (missing, quit):
        marked lost at `now`; the ones newly lost."""
        lost = []
        for books in self.books.values():
            if not books.done and books.lost_at is None and books.client_id not in present:
                books.lost_at = now
                lost.append(books)
        return lost

    def finished(self) -> bool:
        """Every worker the spawn went to is done or lost: nothing more will come."""
        books = self.books.values()
        return bool(books) and all(b.done or b.lost_at is not None for b in books)

    def roster(self) -> list[dict[str, Any]]:
        """Every worker's books, by index (for the master's state file)."""
        return [asdict(self.books[i]) for i in sorted(self.books)]
