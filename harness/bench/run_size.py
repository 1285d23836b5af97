"""Run size: what analysing and reporting a run costs as its request count grows.

    python -m harness.bench.run_size [--requests 1000000 10000000] [--rps 2000]

Per size, the fixture run's generator (`harness.bench.synthetic_run`: the shop, one
catalog replica failing for 10 s) writes the load workers' record files (JSON lines, as
the driver writes them, a million requests a file) plus resources and metrics for every
second. Then a fresh process does what the engine does after the load: `analyse` (read
the records, phases, windows, summaries, verdicts), writes the run's tables and renders
junit.xml, timeline.png and report.md; its wall time per stage and its peak RSS (the
kernel's high-water mark of that process, VmHWM) are reported. Then the dashboard's Run
page of that run is opened in another fresh process and timed (`harness.bench.run_page`).
Spans are left out (a span per hop of 10 M requests is a trace store's job, not this
run's). Target: 10 M requests in at most 60 s and 2 GB; the Run page within 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from harness.bench.curves import CurveColumn, curve_lines, target_line
from harness.bench.synthetic_run import (
    SHOP,
    fault_timeline,
    first_record,
    fixture_experiment,
    synthetic_events,
)
from harness.bench.synthetic_samples import (
    synthetic_metrics,
    synthetic_probe,
    synthetic_resources,
)
from harness.bench.synthetic_traffic import requests_between
from harness.errors import RunError
from harness.load.schema import RECORD_COLUMNS

SIZES = (1_000_000, 10_000_000)
RPS = 2000.0
FILE_REQUESTS = 1_000_000
TARGET_S = 60.0
TARGET_MB = 2048.0
TARGET_PAGE_S = 10.0
COLUMNS = (
    CurveColumn("requests", "requests", "{:,}"),
    CurveColumn("records_mb", "records MB", "{:.0f}"),
    CurveColumn("analyse_s", "analyse s", "{:.1f}"),
    CurveColumn("tables_s", "tables s", "{:.1f}"),
    CurveColumn("views_s", "views s", "{:.1f}"),
    CurveColumn("report_s", "report s", "{:.1f}"),
    CurveColumn("total_s", "total s", "{:.1f}"),
    CurveColumn("peak_rss_mb", "peak RSS MB", "{:.0f}"),
    CurveColumn("run_page_s", "Run page s", "{:.1f}"),
    CurveColumn("load_average_1m", "load 1m", "{:.2f}"),
)


@dataclass(frozen=True)
class BigRun:
    """A synthetic run of `requests` requests at `rps`: the fixture experiment made long
    enough to hold them (5 s warm-up, the fault 10 s into the measured run)."""

    requests: int
    rps: float = RPS
    seed: int = 17

    def experiment(self) -> Any:
        return fixture_experiment(self.rps, self.requests / self.rps - 5.0)


def write_records(run: BigRun, folder: Path, per_file: int = FILE_REQUESTS) -> list[Path]:
    """The run's request records as the load workers write them (JSON lines), `per_file`
    requests a file, one slice of the schedule at a time."""
    rng = np.random.default_rng(run.seed)
    line, _ = fault_timeline(run.experiment())
    paths = []
    for index, first in enumerate(range(0, run.requests, per_file)):
        numbers = (first, min(run.requests, first + per_file))
        frame = requests_between(rng, run.rps, line, numbers)[list(RECORD_COLUMNS)]
        path = folder / f"requests-w{index}.jsonl"
        frame.to_json(path, orient="records", lines=True, double_precision=6)
        paths.append(path)
    return paths


def analyse_and_write(run: BigRun, record_files: list[Path], reports: Path) -> dict[str, float]:
    """What the engine does after the load, timed by stage (seconds)."""
    from harness.engine.analyse import Measured, analyse
    from harness.report.run_files import run_files
    from harness.report.views import keep_request_views
    from harness.store import RunWriter, iso_utc
    from mesh_runtime.topology import load_topology

    experiment = run.experiment()
    topology = load_topology(SHOP)
    line, faults = fault_timeline(experiment)
    rng = np.random.default_rng(run.seed + 1)
    resources = synthetic_resources(rng, topology, line)
    metrics = synthetic_metrics(line, topology, run.rps)
    host = synthetic_probe(rng, line)
    started = time.perf_counter()
    measured = Measured(record_files, resources, metrics, spans=None, host=host)
    analysis = analyse(experiment, topology, "mesh", faults, measured)
    analysed = time.perf_counter()
    begun = datetime(2026, 12, 1, tzinfo=UTC)
    writer = RunWriter(reports, "run-size", begun)
    record = writer.write_record(
        first_record(experiment, "run-size", begun, analysis.phases, faults)
    )
    tables = {"requests": analysis.requests, "windows": analysis.windows, "metrics": metrics,
              "resources": resources, "events": synthetic_events(line)}  # fmt: skip
    for name, frame in tables.items():
        writer.write_table(name, frame)
    del tables, frame
    analysis = analysis.without_requests()  # as the engine does before keeping the views
    written = time.perf_counter()
    final = record.model_copy(
        update={
            "status": "passed",
            "ended_at": iso_utc(begun + timedelta(seconds=line.end)),
            "duration_s": line.end,
            "verdicts": analysis.verdicts,
            "summary": analysis.summary,
            "phase_summaries": list(analysis.summaries.values()),
        }
    )
    keep_request_views(writer.path, final)
    viewed = time.perf_counter()
    writer.finish(final, run_files(analysis.windows))
    reported = time.perf_counter()
    return {
        "peak_rss_mb": own_peak_rss_mb(),
        "analyse_s": analysed - started,
        "tables_s": written - analysed,
        "views_s": viewed - written,
        "report_s": reported - viewed,
        "total_s": reported - started,
        "p99_ms": float(analysis.summaries["whole"].values.get("p99_ms") or 0.0),
    }


def own_peak_rss_mb() -> float:
    """This process's RSS high-water mark (MB), from /proc (VmHWM: since its exec; a child's
    ru_maxrss would include its parent's RSS at the fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(run: BigRun, work: Path) -> dict[str, Any]:
    """Write the run's records, then analyse them in a child process: its times and peak
    RSS (MB)."""
    folder = work / f"run-{run.requests}"
    folder.mkdir()
    files = write_records(run, folder)
    command = [sys.executable, "-m", "harness.bench.run_size", "--child", str(run.requests)]
    command += ["--rps", str(run.rps), "--folder", str(folder)]
    child = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    if child.returncode != 0:
        raise RunError(f"the run-size child for {run.requests} requests failed")
    measured = json.loads(child.stdout)
    (run_dir,) = (folder / "reports").iterdir()
    page = [sys.executable, "-m", "harness.bench.run_page", str(run_dir)]
    opened = subprocess.run(page, stdout=subprocess.PIPE, check=False)
    if opened.returncode != 0:
        raise RunError(f"the dashboard's Run page of {run.requests} requests failed")
    return {
        "requests": run.requests,
        "records_mb": sum(p.stat().st_size for p in files) / 2**20,
        **measured,
        "run_page_s": float(opened.stdout),
        "load_average_1m": os.getloadavg()[0],
    }


def run_size_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The curve's table and the verdict on the biggest run."""
    lines = curve_lines(f"run size (fixture run at {RPS:g} RPS, spans left out)", COLUMNS, rows)
    if rows:
        big = max(rows, key=lambda row: row["requests"])
        label = f"{big['requests']:,} requests"
        lines.append(target_line(f"{label}: analysis + report", big["total_s"], TARGET_S, "s"))
        lines.append(target_line(f"{label}: peak RSS", big["peak_rss_mb"], TARGET_MB, "MB"))
        lines.append(
            target_line(f"{label}: dashboard Run page", big["run_page_s"], TARGET_PAGE_S, "s")
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.run_size", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rps", type=float, default=RPS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        run = BigRun(args.child, args.rps)
        files = sorted(args.folder.glob("requests-w*.jsonl"))
        print(json.dumps(analyse_and_write(run, files, args.folder / "reports")))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="meshproof-bench-runsize-") as tmp:
        for requests in args.requests:
            rows.append(measure(BigRun(requests, args.rps), Path(tmp)))
            print(f"  measured {requests:,} requests", flush=True)
    print("\n".join(run_size_lines(rows)), flush=True)
    big = max(rows, key=lambda row: row["requests"])
    met = big["total_s"] <= TARGET_S and big["peak_rss_mb"] <= TARGET_MB
    return 0 if met and big["run_page_s"] <= TARGET_PAGE_S else 1


if __name__ == "__main__":
    sys.exit(main())
