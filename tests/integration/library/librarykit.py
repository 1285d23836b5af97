"""Helpers of the library's integration tests: one short real run, and what it wrote."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tests.integration.engine.enginekit import ROOT, HarnessProcess

EXPERIMENTS = Path(os.environ.get("MESHPROOF_LIBRARY_DIR") or ROOT / "experiments")
"""The library under test; MESHPROOF_LIBRARY_DIR points at a copy (say, with a topology edited)."""
LATENCY_METRICS = frozenset(
    {
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "p999_ms",
        "corrected_p50_ms",
        "corrected_p99_ms",
        "corrected_p999_ms",
        "overhead_p99_ms",
    }
)
"""Judged against thresholds tuned on a quiet machine; a test only checks they were measured."""
RUN_FILES = (
    "run.json",
    "requests.parquet",
    "windows.parquet",
    "metrics.parquet",
    "resources.parquet",
    "spans.parquet",
    "events.parquet",
    "report.md",
    "junit.xml",
    "faults.ledger.jsonl",
)
RUN_TIMEOUT_S = 150.0


@dataclass(frozen=True)
class LibraryRun:
    """A finished `meshproof run` of a library experiment."""

    exit_code: int
    path: Path
    record: dict[str, Any]
    log: str

    def verdicts(self) -> dict[str, dict[str, Any]]:
        return {v["slo"]: v for v in self.record["verdicts"]}

    def phase(self, name: str) -> dict[str, Any]:
        for summary in self.record["phase_summaries"]:
            if summary["phase"] == name:
                return dict(summary)
        raise AssertionError(f"no phase {name!r} in {self.path / 'run.json'}")

    def table(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.path / f"{name}.parquet")

    def fault(self, name: str) -> dict[str, Any]:
        for fault in self.record["faults"]:
            if fault["name"] == name:
                return dict(fault)
        raise AssertionError(f"fault {name!r} was never applied ({self.path / 'run.json'})")


def run_library(
    harness: Callable[[list[str]], HarnessProcess],
    experiment: str,
    duration: str,
    out: Path,
    state_dir: Path,
    extra: Sequence[str] = (),
) -> LibraryRun:
    """`meshproof run experiments/<experiment>.yaml --duration D --quiet [EXTRA]` in a
    child process (`extra`: more options, say `--target FILE`)."""
    process = harness(
        [
            "run",
            str(EXPERIMENTS / f"{experiment}.yaml"),
            "--duration",
            duration,
            "--quiet",
            "--out",
            str(out),
            "--state-dir",
            str(state_dir),
            *extra,
        ]
    )
    code = process.wait(RUN_TIMEOUT_S)
    log = process.log.read_text(errors="replace")
    runs = [p for p in out.iterdir() if p.is_dir() and p.name.endswith(f"-{experiment}")]
    assert len(runs) == 1, f"expected one run folder in {out}: {runs}\n{log}"
    record = json.loads((runs[0] / "run.json").read_text())
    return LibraryRun(code, runs[0], record, log)


RUN_EXIT = {"passed": 0, "failed": 1, "inconclusive": 3}
"""A run that ran to its end: its status and exit code (3: the host too noisy to judge)."""


def assert_verdicts_hold(run: LibraryRun) -> None:
    """Every SLO that is not a latency threshold passed; latency ones have a measured value."""
    problems = []
    for verdict in run.record["verdicts"]:
        if verdict["value"] is None:
            problems.append(f"{verdict['slo']}: not measured ({verdict.get('reason')})")
        elif verdict["metric"] not in LATENCY_METRICS and not verdict["passed"]:
            problems.append(f"{verdict['slo']}: measured {verdict['value']}")
    assert not problems, f"{run.path}: " + "; ".join(problems) + f"\n{run.log}"
    assert run.record["status"] in ("passed", "failed", "inconclusive"), run.log
    assert run.exit_code == RUN_EXIT[run.record["status"]], run.log


def assert_run_files(run: LibraryRun, without: Collection[str] = ()) -> None:
    """The run directory holds every table and report (but those `without`), and the ledger
    has nothing pending (a run without faults keeps no ledger)."""
    faults = run.record["experiment"]["spec"]["faults"]
    expected = [
        name
        for name in RUN_FILES
        if (faults or name != "faults.ledger.jsonl") and name not in without
    ]
    missing = [name for name in expected if not (run.path / name).exists()]
    assert not missing, f"{run.path}: missing {missing}"
    assert len(run.table("requests")) > 0
    if not (run.path / "faults.ledger.jsonl").exists():
        return
    begun: set[str] = set()
    done: set[str] = set()
    for line in (run.path / "faults.ledger.jsonl").read_text().splitlines():
        entry = json.loads(line)
        (begun if entry.get("op") == "begin" else done).add(entry["name"])
    assert begun <= done, f"faults left pending in the ledger: {begun - done}"


def counter_increase(
    metrics: pd.DataFrame, metric: str, labels: Mapping[str, str], start_s: float, end_s: float
) -> float:
    """How much the raw counter `metric`, summed over series matching `labels`, grew in
    [start_s, end_s] (a series that appears inside the interval counts from 0)."""
    rows = metrics[metrics["metric"] == metric]
    total = 0.0
    for text, series in rows.groupby("labels"):
        series_labels = json.loads(str(text))
        if any(series_labels.get(k) != v for k, v in labels.items()):
            continue
        series = series.sort_values("t_s")
        before = series[series["t_s"] <= start_s]["value"]
        until = series[series["t_s"] <= end_s]["value"]
        if len(until):
            total += float(until.iloc[-1]) - (float(before.iloc[-1]) if len(before) else 0.0)
    return total
