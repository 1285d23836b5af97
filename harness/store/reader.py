"""Reading run directories back: one run (record + tables, lazily) or the list of runs.

What is a run is decided in one place, `is_run_dir`: a folder directly under the reports
folder that holds run.json. Everything else meshproof writes there (`comparisons/`,
`calibration/`, compare folders of earlier versions, the README) is not a run, so
`latest`, `list`, the dashboard and the gate's history never see it. `list_runs` never
raises for one bad run: a run whose run.json is broken or of an unknown schema is listed
with status "unreadable" and the reason.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from harness.store.deployment import Deployment, deployment_of
from harness.store.liveness import Host, run_state
from harness.store.meaning import first_impossible
from harness.store.model import SCHEMA_VERSION, RunRecord
from harness.store.tables import check_schema
from mesh_runtime.errors import InvalidInput
from mesh_runtime.validation import first_problem

if TYPE_CHECKING:
    import pandas as pd

RUN_FILE = "run.json"
COMPARISONS_DIR = "comparisons"
"""`reports/comparisons/<name>/`: where compare and validate-upgrade write by default."""
CALIBRATION_DIR = "calibration"
"""`reports/calibration/<experiment>.json`: `meshproof calibrate`'s results."""
COMPARISON_FILES = ("compare.json", "compare.md")
"""A folder holding one of these is a comparison's report (also `compare-*` folders that
earlier versions wrote directly under reports/)."""


def is_run_dir(path: Path) -> bool:
    """True for a run directory: a visible folder holding run.json (the one rule every
    reader of runs uses)."""
    return path.is_dir() and not path.name.startswith(".") and (path / RUN_FILE).is_file()


def is_comparison_dir(path: Path) -> bool:
    """True for a folder with a comparison's report (compare.json / compare.md) and no run."""
    return (
        path.is_dir()
        and not (path / RUN_FILE).exists()
        and any((path / name).is_file() for name in COMPARISON_FILES)
    )


def load_run(path: str | Path) -> RunRecord:
    """The run record of a run directory (or of its run.json)."""
    file = Path(path)
    if file.is_dir():
        file = file / RUN_FILE
    source = shown(file)
    if source != str(file):  # every report of the run names it: it must be text
        raise InvalidInput(source, "", "the path is not UTF-8 text; rename the folder")
    try:
        text = file.read_text(encoding="utf-8")
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except FileNotFoundError:
        raise InvalidInput(source, "", "no such file (not a run directory?)") from None
    except OSError as exc:
        raise InvalidInput(source, "", f"cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise InvalidInput(source, "", f"not valid JSON: {exc}") from None
    except RecursionError:  # json's decoder nests a call per array or object
        raise InvalidInput(source, "", "not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidInput(source, "", "expected a JSON object")
    try:  # a \ud800-\udfff escape alone decodes to a string no file or page can hold
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end].encode("unicode_escape").decode()
        raise InvalidInput(source, "", f"not valid JSON: a lone surrogate {bad}") from None
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InvalidInput(source, "schema_version", f"unsupported version {version!r}")
    try:
        record = RunRecord.model_validate(data)
    except ValidationError as exc:
        where, problem = first_problem(exc, data)
        raise InvalidInput(source, where, problem) from None
    impossible = first_impossible(record)
    if impossible is not None:  # shaped right, but no run measured it: never shown or gated on
        raise InvalidInput(source, *impossible)
    return record


def _no_constant(name: str) -> float:
    """json's hook for NaN / Infinity, which JSON has not: the writer writes no data as null."""
    raise ValueError(f"{name} is not a JSON number (no data is null)")


def _finite(text: str) -> float:
    """A JSON number as a float; one too large for a float ('1e999') is refused, not inf."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large a number")
    return number


def unreadable(listings: Iterable[RunListing]) -> list[str]:
    """'<id>: <problem>' of each listed run whose run.json could not be read: what a
    command reading earlier runs (gate, calibrate --history) says it left out."""
    return [f"{item.id}: {item.problem}" for item in listings if item.status == "unreadable"]


def once_per_id(listings: Iterable[RunListing]) -> tuple[list[RunListing], list[str]]:
    """`listings` with each run once, in their order, and a line per copy left out
    ('<folder>: a copy of run <id>, in <folder kept>'): what a command reading earlier
    runs (gate, calibrate --history) says. A run copied under the reports folder keeps its
    run.json id (`shares_id_with`); of the folders with one id, the one named by the id is
    the run, else the first by name. Unreadable runs are all kept (their id is their
    folder's name, not a run's), for `unreadable` to name."""
    listings = list(listings)
    folders: dict[str, list[str]] = {}
    for item in listings:
        if item.shares_id_with and item.status != "unreadable":
            folders.setdefault(item.id, []).append(shown(item.path.name))
    kept = {run_id: run_id if run_id in names else min(names) for run_id, names in folders.items()}
    once, copies = [], []
    for item in listings:
        name = shown(item.path.name)
        if item.id in kept and item.status != "unreadable" and name != kept[item.id]:
            copies.append(f"{name}: a copy of run {item.id}, in {kept[item.id]}")
        else:
            once.append(item)
    return once, copies


def shown(path: str | Path) -> str:
    """The path as text: bytes of a name that is not UTF-8 shown as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class StoredRun:
    """A run directory: its record, and its Parquet tables read on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.record = load_run(self.path)
        self._tables: dict[str, pd.DataFrame] = {}

    def has_table(self, name: str) -> bool:
        """True when the run has the table: its file, or run.json saying it was written
        (then `table` says the file is gone, instead of the run seeming to lack it)."""
        return name in self.record.tables or (self.path / f"{name}.parquet").exists()

    def table(self, name: str) -> pd.DataFrame:
        """The table `name` ('requests', 'windows', ...); InvalidInput if absent or broken."""
        if name not in self._tables:
            import pyarrow as pa  # the tables only: listing and loading runs need no pyarrow
            import pyarrow.parquet as pq

            file = self.path / f"{name}.parquet"
            if file.exists() and not file.is_file():
                raise InvalidInput(str(file), "", "not a file")
            try:
                table = pq.read_table(file)
            except FileNotFoundError:
                listed = name in self.record.tables
                why = "run.json lists this table, but the file is gone" if listed else ""
                raise InvalidInput(str(file), "", why or "no such table in this run") from None
            except (OSError, pa.ArrowException) as exc:
                raise InvalidInput(str(file), "", f"cannot read the table: {exc}") from None
            check_schema(file, table.schema)
            self._tables[name] = table.to_pandas()
        return self._tables[name]


@dataclass(frozen=True)
class RunListing:
    """One line of `meshproof list`."""

    id: str
    path: Path
    experiment: str
    title: str
    status: str
    started_at: str
    duration_s: float | None
    passed: int
    failed: int
    problem: str = ""
    inconclusive: int = 0
    """SLOs the host was too noisy to judge (neither passed nor failed)."""
    unjudged: int = 0
    """Failed verdicts the stopped run could not judge (`RunRecord.unjudged`), of `failed`."""
    declared: int = 0
    """The SLOs the experiment declares (a run stopped or still going may have no verdicts)."""
    rps: float | None = None
    """The rate achieved (answered per second of measured time)."""
    target_rps: float | None = None
    """The schedule's intended rate (None in runs from before it was recorded)."""
    late_share: float | None = None
    """Share of requests that left late (None in runs from before it was measured)."""
    max_send_lag_ms: float | None = None
    shares_id_with: tuple[str, ...] = ()
    """The other folders (names) whose run.json has this id: a run copied under the
    reports folder. The id alone then names no run; its folder path does."""
    note: str = ""
    """What the status does not say: a `running` run whose harness is gone is listed
    `aborted`, saying so; one of another host cannot be checked from here
    (`harness.store.liveness`)."""
    deployment: Deployment | None = None
    """What the run was against (`harness.store.deployment`); None when unreadable."""


def list_runs(
    reports_dir: str | Path, experiment: str | None = None, host: Host | None = None
) -> list[RunListing]:
    """Every run directory under `reports_dir`, oldest first (by start time, then id); a
    run's status is what it is now, seen from `host` (this one by default)."""
    root = Path(reports_dir)
    if not root.is_dir():
        return []
    host = host or Host.here()
    runs = [_listing(path, host) for path in root.iterdir() if is_run_dir(path)]
    listings = _mark_shared_ids(runs)
    if experiment is not None:
        listings = [item for item in listings if item.experiment == experiment]
    return sorted(listings, key=lambda item: (item.started_at, item.id))


def _mark_shared_ids(listings: list[RunListing]) -> list[RunListing]:
    """Each listing with the other folders whose run has its id (most have none)."""
    folders: dict[str, list[str]] = {}
    for item in listings:
        folders.setdefault(item.id, []).append(shown(item.path.name))
    marked = []
    for item in listings:
        others = sorted(name for name in folders[item.id] if name != shown(item.path.name))
        marked.append(replace(item, shares_id_with=tuple(others)) if others else item)
    return marked


def _listing(path: Path, host: Host) -> RunListing:
    try:
        record = load_run(path)
    except InvalidInput as exc:
        stamp, _, name = path.name.partition("-")
        return RunListing(
            id=shown(path.name),
            path=path,
            experiment=name,
            title="",
            status="unreadable",
            started_at=_stamp_iso(stamp),
            duration_s=None,
            passed=0,
            failed=0,
            problem=exc.problem if not exc.path else f"{exc.path}: {exc.problem}",
        )
    tally = record.verdict_tally()
    summary = record.summary
    state = run_state(record, host)
    return RunListing(
        id=record.id or path.name,
        path=path,
        experiment=record.experiment.name,
        title=record.experiment.title,
        status=state.status,
        note=state.note,
        started_at=record.started_at,
        duration_s=record.duration_s,
        passed=tally.passed,
        failed=tally.failed,
        inconclusive=tally.inconclusive,
        unjudged=tally.unjudged,
        declared=record.declared_slos,
        rps=summary.rps,
        target_rps=summary.target_rps,
        late_share=summary.late_share,
        max_send_lag_ms=summary.max_send_lag_ms,
        deployment=deployment_of(record),
    )


def _stamp_iso(stamp: str) -> str:
    """'20261127T154000Z' -> '2026-11-27T15:40:00Z' (sorts with the records' times)."""
    if len(stamp) == 16 and stamp[8] == "T" and stamp.endswith("Z"):
        return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z"
    return stamp


def resolve_run(ref: str, reports_dir: str | Path) -> Path:
    """A run directory from a path, a run id in `reports_dir`, a unique id prefix, or 'latest'.

    'latest' is the newest run (by start time); a folder that is not a run (a comparison,
    the calibrations) is refused with what it is instead. A folder's name comes first (a
    copied run keeps its run.json id: the folder named by the id is the original); an id
    that the runs of two folders named otherwise have is refused, naming them."""
    direct = Path(ref)
    if direct.name == RUN_FILE:
        return direct.parent
    if direct.is_dir():
        return _run_or_refuse(direct)
    root = Path(reports_dir)
    if ref == "latest":
        runs = list_runs(root)
        if not runs:
            raise InvalidInput(str(root), "", "no runs here yet")
        return runs[-1].path
    if (root / ref).is_dir():  # a folder's name names it, whatever id its run.json has
        return _run_or_refuse(root / ref)
    sharing = [item.path for item in list_runs(root) if item.id == ref]
    if len(sharing) > 1:
        folders = ", ".join(shown(path) for path in sharing)
        problem = f"{folders} have this run id (copied runs?); name one's folder instead"
        raise InvalidInput(ref, "", problem)
    if sharing:  # a run whose folder was renamed
        return sharing[0]
    found = root.iterdir() if root.is_dir() else iter(())
    matches = sorted(p for p in found if p.name.startswith(ref) and is_run_dir(p))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches[:5])
        raise InvalidInput(ref, "", f"ambiguous run id, it matches: {names}")
    raise InvalidInput(ref, "", f"no such run directory, nor a run id in {root}")


def _run_or_refuse(path: Path) -> Path:
    """`path` when it may be a run (load_run then says what is wrong with it); a
    comparison's folder or the calibrations folder is refused, naming what it is."""
    if is_comparison_dir(path):
        raise InvalidInput(str(path), "", "a comparison's report (compare.md), not a run")
    if path.name in (COMPARISONS_DIR, CALIBRATION_DIR) and not (path / RUN_FILE).exists():
        raise InvalidInput(str(path), "", f"meshproof's {path.name} folder, not a run")
    return path
