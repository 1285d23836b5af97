"""Where the report views read from: a run directory's Parquet tables, through DuckDB.

Every query gets its own in-memory DuckDB connection (no shared state between the
dashboard's threads); DuckDB's errors are translated here into `InvalidInput` naming
the table, so a broken or missing table is one line on a page, not a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from mesh_runtime.errors import InvalidInput


def parquet(run_dir: Path, table: str) -> str:
    """The path of table `table` ('requests', 'spans', ...) of a run; InvalidInput if absent."""
    path = Path(run_dir) / f"{table}.parquet"
    if not path.is_file():
        raise InvalidInput(str(path), "", "no such table in this run")
    return str(path)


def has_table(run_dir: Path, table: str) -> bool:
    return (Path(run_dir) / f"{table}.parquet").is_file()


def query(sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
    """Run one query on a fresh in-memory connection; the result as a DataFrame."""
    try:
        with duckdb.connect(":memory:") as connection:
            return connection.execute(sql, list(params)).df()
    except duckdb.Error as exc:
        where = next((str(p) for p in params if str(p).endswith(".parquet")), "query")
        problem = str(exc).splitlines()[0]
        raise InvalidInput(where, "", f"cannot read the table: {problem}") from None


def columns(run_dir: Path, table: str) -> set[str]:
    """The column names of a table (from its schema, without reading rows)."""
    frame = query("DESCRIBE SELECT * FROM read_parquet(?)", [parquet(run_dir, table)])
    return set(frame["column_name"])
