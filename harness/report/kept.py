"""Whether a kept view (`views/<digest>.parquet`) is its query's answer, by its shape.

A file in `views/` is read in place of its query only when it has the columns the query
answers, by name, in order and by kind (numbers, text, lists of those), and at least the
rows the query answers of no rows (an aggregate answers one row even of no requests). A
view hand-edited, written by another version or damaged into a valid Parquet file of
another shape is then ignored, as an unreadable one is, and the query asks the table.

The expected shape comes from the query itself, never a list kept beside it: it is run on
a stand-in of each table it reads, an empty Parquet file with the columns the table is
written with. So checking a view reads no row of the run, and not the table's file either
(a view is answered without its table, which may be damaged). Kinds, not exact types, are
compared: an older table's INTEGER status answers as well as a BIGINT one, and a column
of nothing but NULLs (DuckDB's type `NULL`) is as good as any kind.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.load.schema import REQUEST_RECORD
from harness.store.tables import SPAN_COLUMNS

_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
_NUMBERS = frozenset((*_INTEGERS, *(f"U{name}" for name in _INTEGERS), "FLOAT", "DOUBLE"))


def stand_in(table: str) -> pa.Schema | None:
    """The columns `table` is written with (requests: the load record's and `phase`;
    spans: `SPAN_COLUMNS`, the times in ns and the rest text); None for a table no view
    is kept of."""
    if table == "requests":
        record = [(c.name, pa.type_for_alias(c.kind)) for c in REQUEST_RECORD]
        return pa.schema([*record, ("phase", pa.string())])
    if table == "spans":
        return pa.schema(
            [(c, pa.int64() if c.endswith("_ns") else pa.string()) for c in SPAN_COLUMNS]
        )
    return None


def read_view(
    connection: duckdb.DuckDBPyConnection, kept: Path, sql: str, params: Sequence[object]
) -> tuple[pd.DataFrame | None, str]:
    """The kept answer and ""; or None and why it is not used (one line)."""
    expected = expected_shape(sql, params)
    if isinstance(expected, str):
        return None, expected
    try:
        relation = connection.execute("SELECT * FROM read_parquet(?)", [str(kept)])
        found = [(str(d[0]), kind(str(d[1]))) for d in connection.description or ()]
        problem = shape_problem(found, expected[0])
        if problem:
            return None, f"not its query's answer ({problem})"
        answer = relation.df()
    except duckdb.Error as exc:
        return None, f"cannot be read ({str(exc).splitlines()[0]})"
    if len(answer) < expected[1]:
        return None, f"not its query's answer ({len(answer)} rows, it answers {expected[1]})"
    return answer, ""


def expected_shape(sql: str, params: Sequence[object]) -> tuple[list[tuple[str, str]], int] | str:
    """The query's columns (name, kind) and rows when every table it reads is empty; or
    why a view of it cannot be checked."""
    with tempfile.TemporaryDirectory(prefix="meshproof-view-") as folder:
        stand_ins: list[object] = []
        for param in params:
            if isinstance(param, str) and param.endswith(".parquet"):
                table = Path(param).stem
                schema = stand_in(table)
                if schema is None:
                    return f"cannot be checked (no view is kept of table {table})"
                param = str(Path(folder) / f"{table}.parquet")
                pq.write_table(schema.empty_table(), param)
            stand_ins.append(param)
        try:
            with duckdb.connect(":memory:") as connection:
                rows = connection.execute(sql, stand_ins).fetchall()
                columns = [(str(d[0]), kind(str(d[1]))) for d in connection.description or ()]
        except duckdb.Error as exc:
            return f"cannot be checked ({str(exc).splitlines()[0]})"
    return columns, len(rows)


def shape_problem(found: list[tuple[str, str]], expected: list[tuple[str, str]]) -> str:
    """The first way the view's columns `found` differ from `expected`; "" if none."""
    names = [name for name, _ in found]
    for name, wanted in expected:
        if name not in names:
            return f"{name}: no such column in the view"
        got = found[names.index(name)][1]
        if got not in (wanted, "missing"):
            return f"{name}: expected {wanted}, got {got}"
    wanted_names = [name for name, _ in expected]
    extra = [name for name in names if name not in wanted_names]
    if extra:
        return f"{extra[0]}: a column its query does not answer"
    if names != wanted_names:
        return "its columns are in another order"
    return ""


def kind(type_name: str) -> str:
    """A DuckDB type as the kind a reader relies on: 'numbers', 'text', 'missing' (type
    NULL: every value null), 'lists of <kind>', else the type's name."""
    if type_name.endswith("[]"):
        return f"lists of {kind(type_name[:-2])}"
    if type_name in _NUMBERS or type_name.startswith("DECIMAL"):
        return "numbers"
    if type_name == "VARCHAR":
        return "text"
    if type_name.strip('"') == "NULL":
        return "missing"
    return type_name
