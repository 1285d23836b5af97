"""Reading the load driver's per-worker record files (harness.analysis.records)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.analysis.records import normalize_requests, read_requests
from harness.errors import RunError
from harness.load.schema import RECORD_COLUMNS


def record(i: int, status: int = 200, error: str = "") -> dict[str, object]:
    return {
        "intended_s": i * 0.01,
        "sent_s": i * 0.01 + 0.0001,
        "latency_ms": 5.0 + i,
        "corrected_ms": 5.1 + i,
        "status": status,
        "bytes": 512,
        "route": "root",
        "method": "GET",
        "trace_id": f"{i:032x}",
        "error": error,
    }


def write_lines(path: Path, rows: list[dict[str, object]], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")
    return path


def test_files_of_all_workers_are_merged_in_intended_order(tmp_path: Path) -> None:
    """Two workers' files become one frame sorted by intended send time."""
    a = write_lines(tmp_path / "w0.jsonl", [record(i) for i in range(0, 10, 2)])
    b = write_lines(tmp_path / "w1.jsonl", [record(i) for i in range(1, 10, 2)])
    frame = read_requests([a, b])
    assert list(frame.columns) == list(RECORD_COLUMNS)
    assert frame["intended_s"].is_monotonic_increasing
    assert frame["trace_id"].tolist() == [f"{i:032x}" for i in range(10)]
    assert frame["status"].dtype == "int64"


def test_partial_last_line_is_dropped(tmp_path: Path) -> None:
    """A worker killed mid-write leaves half a line; the whole lines are kept."""
    path = write_lines(tmp_path / "w0.jsonl", [record(i) for i in range(3)], '{"intended_s": 0.0')
    frame = read_requests([path])
    assert len(frame) == 3
    assert frame.attrs["skipped_lines"] == 0


def test_whole_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    """A complete final record without its newline still counts."""
    path = write_lines(tmp_path / "w0.jsonl", [record(0)], json.dumps(record(1)))
    assert len(read_requests([path])) == 2


def test_broken_line_in_the_middle_is_skipped_and_counted(tmp_path: Path) -> None:
    """A line that is not JSON is skipped, the others are read, the skip is counted."""
    path = tmp_path / "w0.jsonl"
    path.write_text(
        json.dumps(record(0)) + "\n{not json\n" + json.dumps(record(1)) + "\n", encoding="utf-8"
    )
    frame = read_requests([path])
    assert len(frame) == 2
    assert frame.attrs["skipped_lines"] == 1


def test_small_blocks_give_the_same_rows(tmp_path: Path) -> None:
    """Block-wise parsing splits lines at block edges correctly."""
    rows = [record(i, status=503 if i % 7 == 0 else 200) for i in range(500)]
    path = write_lines(tmp_path / "w0.jsonl", rows)
    whole = read_requests([path])
    chunked = read_requests([path], block_bytes=257)
    pd.testing.assert_frame_equal(whole, chunked)
    assert int((chunked["status"] == 503).sum()) == 72


def test_missing_status_and_fields_are_filled(tmp_path: Path) -> None:
    """A record without status reads as no answer (0); absent text fields are null."""
    path = tmp_path / "w0.jsonl"
    path.write_text(json.dumps({"intended_s": 1.0, "sent_s": 1.0}) + "\n", encoding="utf-8")
    frame = read_requests([path])
    assert frame.loc[0, "status"] == 0
    assert pd.isna(frame.loc[0, "latency_ms"])


def test_parquet_records_are_read(tmp_path: Path) -> None:
    """A worker that wrote Parquet is read through the same schema."""
    path = tmp_path / "w0.parquet"
    pq.write_table(pa.Table.from_pylist([record(1), record(0)]), path)
    frame = read_requests([path])
    assert frame["trace_id"].tolist() == [f"{0:032x}", f"{1:032x}"]


def test_unreadable_file_is_a_run_error(tmp_path: Path) -> None:
    """A missing records file is one RunError naming it."""
    with pytest.raises(RunError, match=r"w9\.jsonl"):
        read_requests([tmp_path / "w9.jsonl"])


def test_no_files_give_an_empty_frame() -> None:
    """No records at all is an empty frame with every column."""
    frame = read_requests([])
    assert frame.empty
    assert list(frame.columns) == list(RECORD_COLUMNS)


def test_arrow_ipc_records_are_read(tmp_path: Path) -> None:
    """A worker that wrote an Arrow IPC stream is read, missing columns filled."""
    path = tmp_path / "w0.arrow"
    table = pa.Table.from_pylist(
        [{"intended_s": 0.5, "status": 200}, {"intended_s": 0.1, "status": 0}]
    )
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    frame = read_requests([path])
    assert frame["intended_s"].tolist() == [0.1, 0.5]
    assert frame["status"].tolist() == [0, 200]
    assert frame["trace_id"].isna().all()


def test_normalize_leaves_the_frame_it_was_given_alone() -> None:
    """Normalizing fills and converts a new frame; the caller's keeps its values."""
    raw = pd.DataFrame({"intended_s": [2.0, 1.0], "status": [None, 200.0]})
    normalized = normalize_requests(raw)
    assert list(normalized["status"]) == [200, 0]
    assert raw["status"].isna().tolist() == [True, False]
    assert list(raw.columns) == ["intended_s", "status"]


def test_records_read_in_the_order_pandas_sorts_them(tmp_path: Path) -> None:
    """Read records come out as a stable pandas sort by intended time puts them: equal
    times keep their file order, missing times last in file order."""
    rows = [
        {"intended_s": 2.0, "trace_id": "a"},
        {"intended_s": None, "trace_id": "b"},
        {"intended_s": 1.0, "trace_id": "c"},
        {"intended_s": 2.0, "trace_id": "d"},
        {"trace_id": "e"},
        {"intended_s": 1.0, "trace_id": "f"},
    ]
    path = tmp_path / "requests-w0.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    read = read_requests([path])
    expected = pd.DataFrame(rows).sort_values("intended_s", kind="stable")["trace_id"]
    assert list(read["trace_id"]) == list(expected) == ["c", "f", "a", "d", "b", "e"]
