"""False alarms of `meshproof gate` on real runs of this host, with and without the
latency percentiles' confidence intervals.

    python -m harness.bench.calibrate_gate [--runs N] [--burst-runs M] [--burst-s 0.4]
        [--reports DIR] [--state-dir DIR]
    python -m harness.bench.calibrate_gate --judge DIR

Runs the steady shop of the real-run compare tests (`calibrate_compare.STEADY`: 20 RPS, 3 s
warm-up, 20 s measured, no fault) N times, then M times more with a burst of three busy
processes for --burst-s seconds, 16 s after each run starts (a brief hiccup of a shared CI
runner; those runs go to DIR/burst). Nothing changes the mesh, so every gate that fails is
a false alarm. It gates each quiet run against every pair and every triple of the other
quiet runs, and each burst run against every pair and triple of the quiet runs
(`harness.gate.gate_records`, the default rules, `--min-history` 2 and 3), once as recorded
and once with the percentiles' intervals left out (the gate before it held a percentile to
what the run's number of requests can tell), and prints how many gates failed and on which
metrics, and each run's corrected p99 with its interval. `--judge DIR` judges the runs
already in DIR and DIR/burst, running nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import yaml

from harness.bench.calibrate_compare import STEADY, judged_runs, parse_runs_args, runs_folder
from harness.gate import GateSettings, gate_records
from harness.store.model import RunRecord

BURST_AFTER_S = 16.0
"""Seconds after a run starts that its burst begins: 13 s into its measured 20 s."""
BURST_PROCESSES = 3
"""Busy processes of a burst: more than this host's two cores."""
SPIN = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end: pass"


@dataclass(frozen=True)
class Tally:
    """What one way of gating made of one set of gates."""

    gates: int
    failed: int
    regressions: Counter[str]
    """metric -> gates it regressed in."""

    def line(self, label: str) -> str:
        share = self.failed / self.gates if self.gates else 0.0
        metrics = ", ".join(f"{m} {n}" for m, n in self.regressions.most_common()) or "none"
        return f"{label}: {self.failed} of {self.gates} gates failed ({share:.1%}); regressed: {metrics}"


def without_intervals(record: RunRecord) -> RunRecord:
    """The record as the gate saw it before phase summaries kept percentile intervals."""
    phases = [p.model_copy(update={"intervals": {}}) for p in record.phase_summaries]
    return record.model_copy(update={"phase_summaries": phases})


def as_recorded(record: RunRecord) -> RunRecord:
    return record


def tally(
    current: Sequence[RunRecord],
    quiet: Sequence[RunRecord],
    history: int,
    view: Callable[[RunRecord], RunRecord] = as_recorded,
) -> Tally:
    """Each of `current` gated against every `history`-run subset of `quiet` (less itself),
    seen through `view`."""
    settings = GateSettings(min_history=history)
    gates = failed = 0
    regressions: Counter[str] = Counter()
    for run in current:
        others = [r for r in quiet if r.id != run.id]
        for subset in combinations(others, history):
            result = gate_records(view(run), [view(r) for r in subset], settings)
            gates += 1
            failed += bool(result.failures)
            regressions.update(m.metric for m in result.metrics if m.status == "regression")
    return Tally(gates, failed, regressions)


def runs_in(folder: Path) -> list[RunRecord]:
    """The finished runs directly in `folder`, oldest first, each once
    (`calibrate_compare.judged_runs`)."""
    return [run.record for run in judged_runs(folder)]


def report(quiet: list[RunRecord], burst: list[RunRecord]) -> list[str]:
    lines = []
    for kind, runs in (("quiet", quiet), ("burst", burst)):
        for record in runs:
            whole = record.phase_summary("whole")
            interval = whole.intervals.get("corrected_p99_ms") if whole is not None else None
            span = f"{interval[0]:.1f}-{interval[1]:.1f}" if interval else "none"
            p99 = record.summary.corrected_p99_ms
            lines.append(f"{kind} {record.id}: corrected p99 {p99 or 0:.2f} ms, 95 % {span} ms")
    for kind, runs in (("quiet", quiet), ("burst", burst)):
        for history in (2, 3):
            if not runs or len(quiet) - (kind == "quiet") < history:
                continue
            for label, view in (
                ("as recorded", as_recorded),
                ("without intervals", without_intervals),
            ):
                counted = tally(runs, quiet, history, view)
                lines.append(counted.line(f"{kind} runs, {history} runs of history, {label}"))
    return lines


def collect(args: argparse.Namespace, reports: Path) -> None:
    """N quiet runs, then M runs with a burst, each line printed as it ends."""
    from harness.engine import QuietProgress, RunOptions, run_experiment

    steady = reports.parent / "steady" / "steady.yaml"
    steady.parent.mkdir(parents=True, exist_ok=True)
    steady.write_text(yaml.safe_dump(STEADY, sort_keys=False), encoding="utf-8")
    plan = [(reports, False)] * args.runs + [(reports / "burst", True)] * args.burst_runs
    for index, (out, burst) in enumerate(plan, start=1):
        options = RunOptions(out_dir=out, state_root=args.state_dir)
        timer = threading.Timer(BURST_AFTER_S, spin, (args.burst_s,)) if burst else None
        if timer is not None:
            timer.start()
        result = run_experiment(steady, options, QuietProgress())
        if timer is not None:
            timer.cancel()
        if result.record.stopped:
            raise SystemExit(f"run {index} could not be done: {result.record.error}")
        kind = "burst" if burst else "quiet"
        print(
            f"run {index}/{len(plan)} {kind}: {result.record.status} -> {result.path}", flush=True
        )


def spin(seconds: float) -> None:
    """BURST_PROCESSES processes busy for `seconds`, waited for."""
    busy = [
        subprocess.Popen([sys.executable, "-c", SPIN, str(seconds)]) for _ in range(BURST_PROCESSES)
    ]
    for process in busy:
        process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.calibrate_gate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=10, help="quiet runs")
    parser.add_argument("--burst-runs", type=int, default=6, help="runs with a burst")
    parser.add_argument("--burst-s", type=float, default=0.4, help="the burst's length")
    args = parse_runs_args(parser, argv)
    reports = runs_folder(args, "calibrate-gate-", collect)
    for line in report(runs_in(reports), runs_in(reports / "burst")):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
