"""Where the report views read from: a run directory's Parquet tables, through DuckDB.

Every query gets its own in-memory DuckDB connection (no shared state between the
dashboard's threads); DuckDB's errors are translated here into `InvalidInput` naming
the table, so a broken or missing table is one line on a page, not a traceback.

A query's answer can be kept in the run directory (`views/<digest>.parquet`, written
by `query(..., keep=True)` when the run is written: `harness.report.views`), so that a
run of millions of requests opens without scanning them again. The digest covers the
SQL, the parameters and each table's size and modification time: a table rewritten
(a run analysed again) no longer matches, and the query runs on the table as before.
A kept answer is read back through DuckDB, so it is the same DataFrame; a kept file that
cannot be read, or is not of the shape its query answers, is ignored (the query asks the
table), and named with the table's problem when the table cannot answer either.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.report.kept import read_view
from harness.store.tables import check_schema
from mesh_runtime.errors import InvalidInput


def parquet(run_dir: Path, table: str) -> str:
    """The path of table `table` ('requests', 'spans', ...) of a run; InvalidInput if absent."""
    path = Path(run_dir) / f"{table}.parquet"
    if not path.is_file():
        raise InvalidInput(str(path), "", "no such table in this run")
    return str(path)


def has_table(run_dir: Path, table: str) -> bool:
    return (Path(run_dir) / f"{table}.parquet").is_file()


VIEWS = "views"
"""The run directory's folder of kept query answers."""


def query(sql: str, params: Sequence[object] = (), keep: bool = False) -> pd.DataFrame:
    """Run one query on a fresh in-memory connection; the result as a DataFrame (a kept
    answer when the run directory has one for this query on these tables, of the shape
    the query answers: `harness.report.kept`). `keep`: write the answer to the run
    directory first (when the run is written)."""
    kept = kept_answer(sql, params)
    ignored = ""
    try:
        with duckdb.connect(":memory:") as connection:
            if kept is not None and keep:
                _keep(connection, sql, params, kept)
            if kept is not None and kept.is_file():
                answer, ignored = read_view(connection, kept, sql, params)
                if answer is not None:
                    return answer
            _check_columns(params)
            return connection.execute(sql, list(params)).df()
    except duckdb.Error as exc:
        where = next((str(p) for p in params if str(p).endswith(".parquet")), "query")
        problem = str(exc).splitlines()[0]
        failure = InvalidInput(where, "", f"cannot read the table: {problem}")
    except InvalidInput as exc:
        failure = exc
    if ignored:  # the view was ignored and its table cannot answer either: name both
        raise InvalidInput(str(kept), "", f"{ignored}; asked instead, {failure}") from None
    raise failure from None


def kept_answer(sql: str, params: Sequence[object]) -> Path | None:
    """Where this query's kept answer is (or would be): `views/<digest>.parquet` beside
    the first table it reads; None for a query that reads no table file."""
    digest = hashlib.sha256(sql.encode())
    folder = None
    for param in params:
        text = str(param)
        if isinstance(param, str) and text.endswith(".parquet") and os.path.isfile(text):
            stat = os.stat(text)
            text = f"{os.path.basename(text)}:{stat.st_size}:{stat.st_mtime_ns}"
            folder = folder or Path(param).parent / VIEWS
        digest.update(b"\0" + repr(text if isinstance(param, str) else param).encode())
    return None if folder is None else folder / f"{digest.hexdigest()[:32]}.parquet"


def _check_columns(params: Sequence[object]) -> None:
    """InvalidInput naming the table and column when a table the query reads lacks a
    column the report takes for granted (`harness.store.tables.READ_COLUMNS`), or holds
    it as another kind: a `SELECT *` would otherwise fail later, in pandas."""
    for param in params:
        if not (isinstance(param, str) and param.endswith(".parquet")):
            continue
        try:
            schema = pq.read_schema(param)  # the footer only
        except (OSError, pa.ArrowException) as exc:
            raise InvalidInput(param, "", f"cannot read the table: {exc}") from None
        check_schema(param, schema)


def _keep(
    connection: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object], kept: Path
) -> None:
    """Write the query's answer to `kept` (atomically: a reader sees all of it or none)."""
    temporary = kept.with_name(f".{kept.name}.tmp-{os.getpid()}")
    try:
        kept.parent.mkdir(exist_ok=True)
        target = str(temporary).replace("'", "''")
        connection.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)", list(params))
        os.replace(temporary, kept)
    except OSError as exc:
        raise InvalidInput(str(kept), "", f"cannot keep the view: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)


def columns(run_dir: Path, table: str) -> set[str]:
    """The column names of a table (from its schema, without reading rows)."""
    frame = query("DESCRIBE SELECT * FROM read_parquet(?)", [parquet(run_dir, table)])
    return set(frame["column_name"])
