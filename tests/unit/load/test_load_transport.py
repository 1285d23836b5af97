"""Records from a worker to its master: batches, the master's files, lost workers."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from harness.load.records import Record
from harness.load.transport import (
    LOCUST_PORT,
    MAX_BATCH_BYTES,
    Batcher,
    MasterFiles,
    bind_address,
    master_address,
)
from harness.load.workers import worker_reports
from harness.spec.load import LoadSpec


def _line(n: int) -> str:
    return Record.of(n / 100, n / 100, n / 100 + 0.01, status=200, nbytes=2, route="root",
                     method="GET", trace_id=f"{n:032x}").json_line()  # fmt: skip


def test_batches_carry_every_record_and_the_master_appends_them(
    tmp_path: Path,
) -> None:
    batcher, files = Batcher(2), MasterFiles(tmp_path)
    lines = [_line(n) for n in range(500)]
    for line in lines[:300]:
        batcher.add_record(line)
    first = batcher.take({"done": False, "sent": 300})
    assert first["count"] == 300 and first["seq"] == 0
    assert first["records"].decode() == "".join(lines[:300])
    files.receive("host_a", first, 1.0)
    for line in lines[300:]:
        batcher.add_record(line)
    files.receive("host_a", batcher.take({"done": True, "sent": 500}), 2.0)
    files.receive("host_a", batcher.take(None), 3.0)  # an empty batch: nothing appended
    assert batcher.shipped == 500 and batcher.batches == 3
    text = (tmp_path / "requests-w2.jsonl").read_text()
    assert text == "".join(lines)
    status = json.loads((tmp_path / "load-status-w2.json").read_text())
    assert status == {"done": True, "sent": 500, "received": 500, "client_id": "host_a"}
    books = files.books[2]
    assert (books.records, books.batches, books.gaps, books.done) == (500, 3, 0, True)


def test_a_batch_is_cut_once_a_megabyte_of_records_waits() -> None:
    batcher = Batcher(0)
    line = _line(1)
    while not batcher.full:
        batcher.add_record(line)
    assert batcher.waiting == -(-MAX_BATCH_BYTES // len(line))


def test_a_missing_batch_is_counted_as_a_gap(tmp_path: Path) -> None:
    batcher, files = Batcher(0), MasterFiles(tmp_path)
    batcher.add_record(_line(1))
    batcher.take(None)  # lost on the way
    batcher.add_record(_line(2))
    files.receive("h", batcher.take(None), 1.0)
    assert files.books[0].gaps == 1 and files.books[0].records == 1


def test_a_worker_gone_before_done_is_lost_once_and_its_share_unsent(tmp_path: Path) -> None:
    files = MasterFiles(tmp_path)
    for index, client in enumerate(["a", "b", "c"]):
        files.enroll(index, client)
    batcher = Batcher(1)
    for n in range(40):
        batcher.add_record(_line(n))
    files.receive("b", batcher.take({"done": False}), 1.0)
    done = Batcher(2)
    files.receive("c", done.take({"done": True}), 1.0)
    assert [b.index for b in files.mark_lost({"a"}, 123.0)] == [1]  # c was done
    assert files.mark_lost(set(), 124.0)[0].index == 0
    assert files.mark_lost(set(), 125.0) == []
    spec = LoadSpec(rps=100, duration="3s", warmup="0s", connections=3, workers=3)
    reports = worker_reports(spec, files.roster())
    assert [(r.index, r.status, r.share, r.records, r.unsent) for r in reports] == [
        (0, "lost", 100, 0, 100),
        (1, "lost", 100, 40, 60),
        (2, "done", 100, 0, 0),
    ]
    assert reports[1].lost_at == 123.0 and reports[1].name == "w1 (b)"


def test_a_batch_of_another_format_is_refused_and_its_worker_lost(tmp_path: Path) -> None:
    """An older worker's batch (zlib-compressed lines, no `format`) is never appended as
    garbage: its worker is named lost, its records unsent."""
    files = MasterFiles(tmp_path)
    files.enroll(0, "old")
    lines = "".join(_line(n) for n in range(10)).encode()
    old = {"worker": 0, "seq": 0, "count": 10, "records": zlib.compress(lines), "hdr": b"",
           "status": {"done": True}}  # fmt: skip
    books = files.receive("old", old, 50.0)
    assert (books.refused, books.records, books.lost_at, books.done) == (10, 0, 50.0, False)
    assert not (tmp_path / "requests-w0.jsonl").exists()
    assert not (tmp_path / "load-status-w0.json").exists()
    spec = LoadSpec(rps=10, duration="1s", warmup="0s", connections=1, workers=1)
    [report] = worker_reports(spec, files.roster())
    assert (report.status, report.records, report.unsent) == ("lost", 0, 10)


def test_a_refused_worker_is_named_once_at_its_first_batch_even_an_empty_one(
    tmp_path: Path,
) -> None:
    """The master says why a worker is refused at its first refused batch, even one with no
    records (a worker ships its status at once when it begins), and never again."""
    files = MasterFiles(tmp_path)
    files.enroll(3, "old")
    said = []
    for seq, count in enumerate((0, 4, 0, 4)):
        old = {"worker": 3, "seq": seq, "count": count, "records": b"", "hdr": b"",
               "status": None}  # fmt: skip
        books = files.receive("old", old, 50.0 + seq)
        said.append(files.refusal(books, old))
    assert said[0] == (
        "worker w3 (old) refused: its batches are format 1, this master reads 2 (run the same"
        " meshproof version on the workers as on the master)"
    )
    assert said[1:] == [None, None, None]
    assert (books.refused_batches, books.refused) == (4, 8)
    fresh = Batcher(1)
    ok = fresh.take({"done": False})
    assert files.refusal(files.receive("new", ok, 51.0), ok) is None


def test_addresses() -> None:
    assert master_address("10.1.2.3:5557") == ("10.1.2.3", 5557)
    assert master_address("[::1]:80") == ("::1", 80)
    assert bind_address("0.0.0.0") == ("0.0.0.0", LOCUST_PORT)
    assert bind_address("10.0.0.1:6000") == ("10.0.0.1", 6000)
    assert bind_address("::") == ("::", LOCUST_PORT)
    for bad in ("host", "host:", ":80", "h:99999", "h:x"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            master_address(bad)
