"""The load driver's per-request records, read into one requests DataFrame.

Each worker writes JSON lines (or an Arrow IPC / Parquet file), one request a line, the
columns of `harness.load.schema.REQUEST_RECORD` (DEVELOPING.md, "Load driver"). A run can
have millions of them, so files are parsed by pyarrow in blocks; a worker killed
mid-write leaves a partial last line, which is dropped. A line in the middle that is not JSON is skipped and counted in
`df.attrs["skipped_lines"]`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.json as pj
import pyarrow.parquet as pq

from harness.analysis.order import in_send_order, send_times
from harness.errors import RunError
from harness.load.schema import RECORD_COLUMNS, REQUEST_RECORD

RECORD_SCHEMA = pa.schema([(c.name, pa.type_for_alias(c.kind)) for c in REQUEST_RECORD])
BLOCK_BYTES = 16 * 1024 * 1024


def read_requests(paths: Iterable[str | Path], block_bytes: int = BLOCK_BYTES) -> pd.DataFrame:
    """All records of all files as one DataFrame, sorted by intended send time."""
    tables: list[pa.Table] = []
    skipped = 0
    with _system_allocator():
        for path in paths:
            table, bad = _read_file(Path(path), block_bytes)
            tables.append(table)
            skipped += bad
            pa.default_memory_pool().release_unused()  # the parse's freed blocks
        frame = normalize_requests(_sorted_frame(tables))
    frame.attrs["skipped_lines"] = skipped
    return frame


@contextmanager
def _system_allocator() -> Iterator[None]:
    """Arrow allocates from the C library's malloc meanwhile (the frame's columns too):
    the parse frees many small chunks and the sort whole columns, and malloc gives them
    back to the OS when asked, where Arrow's default pool (mimalloc) kept ~40 % more
    resident (3 M requests: peak 894 -> 750 MB)."""
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _sorted_frame(tables: list[pa.Table]) -> pd.DataFrame:
    """The tables (emptied: their buffers are let go of as they are copied) as one
    DataFrame sorted by intended send time as `normalize_requests` sorts (stable, missing
    times last), made a column at a time so that a run of millions of requests is held
    about once, not three times (Arrow, pandas, sorted pandas)."""
    table = pa.concat_tables(tables) if tables else RECORD_SCHEMA.empty_table()
    tables.clear()
    key = pc.fill_null(table.column("intended_s"), float("nan")).combine_chunks()
    order = pc.array_sort_indices(key, null_placement="at_end")  # stable; NaN last
    if len(order) < 2**32:
        order = order.cast(pa.uint32())  # half the memory beside each column's take
    names, columns = table.column_names, list(table.columns)
    del table, key
    pool = pa.default_memory_pool()
    taken = []
    while columns:
        # One block first (a take over the parse's many chunks builds that block and more
        # besides), then hand the freed parse chunks back before the next column.
        whole = columns.pop(0).combine_chunks()
        pool.release_unused()
        taken.append(whole.take(order))
        del whole
        pool.release_unused()  # the allocator keeps freed blocks otherwise
    sorted_table = pa.table(dict(zip(names, taken, strict=True)))
    del taken
    frame = sorted_table.to_pandas(split_blocks=True, self_destruct=True)
    del sorted_table
    pool.release_unused()
    return frame


def normalize_requests(frame: pd.DataFrame) -> pd.DataFrame:
    """Every record column present with its type; status 0 where there was no answer."""
    out = frame.copy(deep=False)  # copy-on-write: columns set below leave `frame` alone
    for name in RECORD_COLUMNS:
        if name not in out.columns:
            out[name] = None
    for column in REQUEST_RECORD:
        if out[column.name].dtype == column.kind:
            continue  # read with its type (and ints without gaps): converting would copy it
        if column.kind == "int64":
            numbers = pd.to_numeric(out[column.name], errors="coerce")
            out[column.name] = numbers.fillna(0).astype("int64")
        elif column.kind == "float64":
            out[column.name] = pd.to_numeric(out[column.name], errors="coerce").astype("float64")
    extra = [c for c in out.columns if c not in RECORD_COLUMNS]
    out = out[[*RECORD_COLUMNS, *extra]]
    if in_send_order(send_times(out)):  # sorting would copy every column and move nothing
        return out.reset_index(drop=True)
    return out.sort_values("intended_s", kind="stable", ignore_index=True)


def _read_file(path: Path, block_bytes: int) -> tuple[pa.Table, int]:
    try:
        if path.suffix == ".parquet":
            return _conform(pq.read_table(path)), 0
        if path.suffix in (".arrow", ".arrows", ".feather"):
            return _conform(_read_ipc(path)), 0
        return _read_jsonl(path, block_bytes)
    except OSError as exc:
        raise RunError(f"{path}: cannot read the load records: {exc.strerror or exc}") from exc
    except pa.ArrowInvalid as exc:
        raise RunError(f"{path}: not a load records file: {exc}") from exc


def _read_ipc(path: Path) -> pa.Table:
    with path.open("rb") as handle:
        try:
            return ipc.open_file(handle).read_all()
        except pa.ArrowInvalid:
            handle.seek(0)
            return ipc.open_stream(handle).read_all()


def _conform(table: pa.Table) -> pa.Table:
    columns = []
    for field in RECORD_SCHEMA:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.table(columns, schema=RECORD_SCHEMA)


def _read_jsonl(path: Path, block_bytes: int) -> tuple[pa.Table, int]:
    tables: list[pa.Table] = []
    skipped = 0
    for block in _complete_line_blocks(path, block_bytes):
        table, bad = _parse_block(block)
        tables.append(table)
        skipped += bad
    if not tables:
        return RECORD_SCHEMA.empty_table(), skipped
    return pa.concat_tables(tables), skipped


def _complete_line_blocks(path: Path, block_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines; a trailing line without newline only if it is whole JSON."""
    carry = b""
    with path.open("rb") as handle:
        while chunk := handle.read(block_bytes):
            data = carry + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1 :]
            yield data[: cut + 1]
    if carry.strip() and _is_json_object(carry):
        yield carry + b"\n"


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


_PARSE = pj.ParseOptions(explicit_schema=RECORD_SCHEMA, unexpected_field_behavior="ignore")


def _parse_block(block: bytes) -> tuple[pa.Table, int]:
    try:
        return pj.read_json(io.BytesIO(block), parse_options=_PARSE), 0
    except pa.ArrowInvalid:
        return _parse_lines(block)


def _parse_lines(block: bytes) -> tuple[pa.Table, int]:
    """The slow path for a block with a broken line: keep every line that is whole."""
    rows: list[dict[str, object]] = []
    bad = 0
    for line in block.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(row, dict):
            rows.append({name: row.get(name) for name in RECORD_COLUMNS})
        else:
            bad += 1
    try:
        return pa.Table.from_pylist(rows, schema=RECORD_SCHEMA), bad
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        frame = normalize_requests(pd.DataFrame(rows, columns=list(RECORD_COLUMNS)))
        return pa.Table.from_pandas(frame, schema=RECORD_SCHEMA, preserve_index=False), bad
