"""The run directory, written atomically: `reports/<YYYYmmddTHHMMSSZ>-<experiment>/`.

Every file is written to a temporary name in the directory, flushed to disk and moved
over the final name with `os.replace`, so a reader (the dashboard, `meshproof list`)
never sees half a file and an interrupted run keeps every file it had finished.

Typical use by the orchestrator::

    writer = RunWriter(reports_dir, "catalog-503", started_at)
    writer.write_record(record)                    # status "running", early
    writer.write_table("requests", requests)       # ... windows, metrics, resources, spans, events
    writer.finish(record, run_files(windows))      # report.md + chart, junit.xml, run.json
    # or, on SIGINT / an error: writer.mark_aborted(record, "interrupted", run_files(windows))

The files drawn from the final record are rendered by `harness.report.run_files`; this
package only writes them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness.errors import RunError
from harness.store.liveness import Host, harness_died, run_state
from harness.store.model import RunRecord
from harness.store.reader import load_run
from mesh_runtime.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

Render = Callable[[RunRecord], Mapping[str, str | bytes]]
"""The files (name -> text or bytes) drawn from a run's final record, written beside run.json."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def run_id_for(experiment_name: str, started_at: datetime) -> str:
    """'20261127T154000Z-catalog-503': the UTC start second and the experiment's name."""
    stamp = started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = _UNSAFE.sub("-", experiment_name).strip("-.") or "experiment"
    return f"{stamp}-{name}"


def write_files(folder: Path, files: Mapping[str, str], what: str) -> list[Path]:
    """Write text files (name -> text) into `folder`, made if missing; the paths written.

    For the reports beside a run (`compare`, `gate`); InvalidInput says `what` could not
    be written, naming the folder.
    """
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(str(folder), "", f"cannot write {what}: it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(str(folder), "", f"cannot write {what}: {exc.strerror}") from None
    return [folder / name for name in files]


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a 'Z', to the second: '2026-11-27T15:40:00Z'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunWriter:
    """Creates one run directory and writes its files atomically."""

    def __init__(self, reports_dir: str | Path, experiment_name: str, started_at: datetime) -> None:
        self.reports_dir = Path(reports_dir)
        base = run_id_for(experiment_name, started_at)
        self.run_id, self.path = self._create(base)
        self._tables: list[str] = []

    @classmethod
    def reopen(cls, run_dir: Path, record: RunRecord) -> RunWriter:
        """A writer of the existing run directory of `record` (its id and tables kept):
        `meshproof recover` records the end of a run whose harness died."""
        writer = cls.__new__(cls)
        writer.reports_dir, writer.run_id, writer.path = run_dir.parent, record.id, run_dir
        writer._tables = list(record.tables)
        return writer

    def _create(self, base: str) -> tuple[str, Path]:
        try:
            self.reports_dir.mkdir(parents=True, exist_ok=True)
            for attempt in range(1, 100):
                run_id = base if attempt == 1 else f"{base}-{attempt}"
                path = self.reports_dir / run_id
                try:
                    path.mkdir()
                except FileExistsError:
                    continue
                return run_id, path
        except OSError as exc:
            raise RunError(f"{self.reports_dir}: cannot create the run directory: {exc}") from exc
        raise RunError(f"{self.reports_dir}: too many runs named {base}")

    @property
    def tables(self) -> list[str]:
        """The tables written so far, in order."""
        return list(self._tables)

    def write_record(self, record: RunRecord) -> RunRecord:
        """Write run.json (with the list of tables written so far); returns what was written."""
        record = record.model_copy(update={"id": self.run_id, "tables": self.tables})
        text = json.dumps(record.model_dump(mode="json"), indent=2, allow_nan=False) + "\n"
        self.write_text("run.json", text)
        return record

    def write_table(self, name: str, frame: pd.DataFrame) -> Path:
        """Write `<name>.parquet` (pyarrow); the index is not kept."""
        import pyarrow as pa  # imported by the tables only, so reading run.json stays light
        import pyarrow.parquet as pq

        def write(handle: IO[bytes]) -> None:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), handle)

        path = self._atomic(f"{name}.parquet", write)
        pa.default_memory_pool().release_unused()  # the pool keeps a big table's buffers
        if name not in self._tables:
            self._tables.append(name)
        return path

    def write_text(self, name: str, text: str) -> Path:
        """Write a UTF-8 text file in the run directory."""
        return self._atomic(name, lambda handle: handle.write(text.encode("utf-8")))

    def write_bytes(self, name: str, data: bytes) -> Path:
        return self._atomic(name, lambda handle: handle.write(data))

    def finish(self, record: RunRecord, render: Render | None = None) -> RunRecord:
        """Write the files `render` draws from the final record (report.md, its chart,
        junit.xml: `harness.report.run_files`), then the final run.json."""
        record = record.model_copy(update={"id": self.run_id, "tables": self.tables})
        for name, content in (render(record) if render else {}).items():
            self.write_bytes(name, content if isinstance(content, bytes) else content.encode())
        return self.write_record(record)

    def mark_aborted(
        self,
        record: RunRecord,
        reason: str,
        render: Render | None = None,
        ended_at: datetime | None = None,
    ) -> RunRecord:
        """Keep everything written so far and record the run as aborted, with why."""
        update: dict[str, Any] = {"status": "aborted", "error": reason}
        if record.ended_at is None:
            update["ended_at"] = iso_utc(ended_at or datetime.now(UTC))
        return self.finish(record.model_copy(update=update), render)

    def _atomic(self, name: str, write: Callable[[IO[bytes]], object]) -> Path:
        final = self.path / name
        temporary = self.path / f".{name}.tmp-{os.getpid()}"
        try:
            with temporary.open("wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise RunError(f"{final}: cannot write: {exc.strerror or exc}") from exc
        return final


def mark_harness_died(run_dir: Path, host: Host | None = None) -> RunRecord | None:
    """Record the run in `run_dir` as aborted when run.json says `running` and its harness
    is gone (`harness.store.liveness`), ended when its folder was last written; the
    record written, or None when the run is not one of those (or is unreadable). Every
    other file of the run is kept as it is."""
    try:
        record = load_run(run_dir)
    except InvalidInput:
        return None
    if record.harness is None or not run_state(record, host).died:
        return None
    ended = datetime.fromtimestamp(_last_written(run_dir), UTC)
    writer = RunWriter.reopen(run_dir, record)
    return writer.mark_aborted(record, harness_died(record.harness), ended_at=ended)


def _last_written(run_dir: Path) -> float:
    """The newest modification time (epoch seconds) of the folder's files."""
    try:
        return max((entry.stat().st_mtime for entry in os.scandir(run_dir)), default=0.0)
    except OSError:
        return datetime.now(UTC).timestamp()
