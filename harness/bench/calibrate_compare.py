"""False-alarm and detection rates of `meshproof compare` on real runs of this host.

    python -m harness.bench.calibrate_compare [--pairs K] [--experiment FILE]
        [--duration 20s] [--delay-ms 20] [--reports DIR]
    python -m harness.bench.calibrate_compare --judge DIR

The experiment is by default the steady shop of the real-run compare tests (20 RPS, 4
connections, 3 s warm-up, 20 s measured, no fault). Runs it 2K+1 times, interleaved S F S F ... S: K+1 steady runs and K runs
with a Toxiproxy latency toxic of --delay-ms on frontend->catalog for the whole run (the
same experiment name, so the runs compare). Then it judges, with the default rules:
- K pairs of consecutive steady runs (S_i, S_i+1): Fail or Marginal is a false alarm
  (Inconclusive, the host too disturbed to tell, is counted apart);
- K pairs (S_i, F_i+1): a Fail with `latency_ms` failed is a detection;
and prints both rates, the per-request method's (Mann-Whitney over every request, the
former 5 % / 1 ms tolerance) beside them, how often latency was significant on windows
and on requests, the rates with a calibration made of the other steady runs (each pair's
own runs left out), and the load average after each run (the machine may be shared). `--judge DIR` judges runs already in DIR (steady runs are those
without faults), running nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from harness.calibrate import MIN_RUNS, Calibration
from harness.calibrate.measure import calibration_from, run_values
from harness.compare import compare_runs
from harness.compare.config import CompareConfig
from harness.compare.judge import verdict_of
from harness.compare.model import ComparisonResult
from harness.compare.samples import run_samples
from harness.compare.stats import location_shift
from harness.store.reader import StoredRun, list_runs, once_per_id

REPO = Path(__file__).resolve().parents[2]
EDGE = "frontend->catalog"
VERDICTS = ("Pass", "Inconclusive", "Marginal", "Fail")
STEADY = {
    "title": "steady shop",
    "target": {"topology": str(REPO / "experiments" / "topologies" / "shop.yaml")},
    "load": {"rps": 20, "warmup": "3s", "duration": "20s", "connections": 4},
    "slos": ["error_rate < 0.01"],
}


def slow_variant(experiment: Path, folder: Path, delay_ms: float) -> Path:
    """The experiment with a latency toxic on EDGE for the whole run, same name."""
    spec = yaml.safe_load(experiment.read_text(encoding="utf-8"))
    topology = Path(spec["target"]["topology"])
    if not topology.is_absolute():
        spec["target"]["topology"] = str((experiment.parent / topology).resolve())
    fault = {
        "name": "slow-catalog",
        "kind": "toxic",
        "target": EDGE,
        "at": "0s",
        "params": {"type": "latency", "attributes": {"latency": delay_ms}},
    }
    spec["faults"] = [*spec.get("faults", []), fault]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / experiment.name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def collect(args: argparse.Namespace, reports: Path) -> None:
    """The 2K+1 runs, S F S F ... S, each line printed as it ends."""
    from harness.engine import QuietProgress, RunOptions, run_experiment
    from mesh_runtime.units import parse_duration

    steady = args.experiment
    if steady is None:
        steady = reports.parent / "steady" / "steady.yaml"
        steady.parent.mkdir(parents=True, exist_ok=True)
        steady.write_text(yaml.safe_dump(STEADY, sort_keys=False), encoding="utf-8")
    slow = slow_variant(steady, reports.parent / "slow", args.delay_ms)
    seconds = None if args.duration is None else parse_duration(args.duration)
    options = RunOptions(out_dir=reports, duration_s=seconds, state_root=args.state_dir)
    order = [steady if i % 2 == 0 else slow for i in range(2 * args.pairs + 1)]
    for index, path in enumerate(order, start=1):
        result = run_experiment(path, options, QuietProgress())
        if result.record.stopped:
            raise SystemExit(f"run {index} could not be done: {result.record.error}")
        kind = "slow" if path == slow else "steady"
        load = os.getloadavg()
        p50 = result.record.summary.p50_ms
        print(
            f"run {index}/{len(order)} {kind}: {result.record.status} p50 "
            f"{p50 if p50 is None else round(p50, 2)} ms, load average "
            f"{load[0]:.2f} {load[1]:.2f} -> {result.path.name}",
            flush=True,
        )


@dataclass(frozen=True)
class PairOutcome:
    kind: str
    """'identical' or 'slow'."""
    result: ComparisonResult
    request_p: float
    """The per-request Mann-Whitney p of latency (every request an independent draw)."""
    request_high: bool
    """The per-request method (Mann-Whitney over requests, 5 % / 1 ms) called latency High."""
    calibrated: ComparisonResult | None = None
    """The same pair judged with a calibration of the other steady runs (None: too few)."""


def per_request(base: StoredRun, cand: StoredRun) -> tuple[float, bool]:
    """(p, High) of the former judgment of latency_ms: every request an independent draw."""
    left, right = run_samples(base).latency.values, run_samples(cand).latency.values
    estimate = location_shift(left, right, 0.05, np.random.default_rng(1))
    tolerance = max(0.05 * float(np.median(left)), 1.0)
    return estimate.p_value, estimate.p_value < 0.05 and estimate.delta > tolerance


class Calibrations:
    """Calibrations of the steady runs other than a pair's (leave the pair out)."""

    def __init__(self, steady: list[StoredRun]) -> None:
        self.steady = steady
        self.values = {run.path: run_values(run) for run in steady}

    def without(self, *left_out: StoredRun) -> Calibration | None:
        kept = [run for run in self.steady if run.path not in {r.path for r in left_out}]
        if len(kept) < MIN_RUNS:
            return None
        return calibration_from(kept, [self.values[run.path] for run in kept], "history")


def judged_runs(reports: Path) -> list[StoredRun]:
    """The finished runs in `reports`, in order, each once: a run folder copied under
    `reports` keeps its run.json id, and beside its original it was an 'identical' pair of
    one run with itself, a sure pass that raised the no-false-alarm rate. A line on stderr
    names each copy left out."""
    finished = [
        item for item in list_runs(reports) if item.status in ("passed", "failed", "inconclusive")
    ]
    once, copies = once_per_id(finished)
    for line in copies:
        print(f"left out, duplicate: {line}", file=sys.stderr)
    return [StoredRun(item.path) for item in once]


def judge_all(reports: Path) -> list[PairOutcome]:
    """Consecutive steady pairs and (steady, next slow) pairs of the runs in `reports`."""
    runs = judged_runs(reports)
    calibrations = Calibrations([run for run in runs if not run.record.faults])
    outcomes = []
    for index, run in enumerate(runs):
        if run.record.faults:
            continue
        later = runs[index + 1 :]
        steady = next((r for r in later if not r.record.faults), None)
        slow = later[0] if later and later[0].record.faults else None
        for kind, other in (("identical", steady), ("slow", slow)):
            if other is None:
                continue
            result = compare_runs(run.path, other.path, calibration=None)
            calibration = calibrations.without(run, other)
            calibrated = None
            if calibration is not None:
                calibrated = compare_runs(run.path, other.path, calibration=calibration)
            p_value, high = per_request(run, other)
            outcomes.append(PairOutcome(kind, result, p_value, high, calibrated))
    return outcomes


def latency_line(outcome: PairOutcome) -> str:
    result = outcome.result
    latency = next(m for m in result.metrics if m.metric == "latency_ms")
    failed = ", ".join(m.metric for m in result.failed_metrics()) or "-"
    calibrated = "-" if outcome.calibrated is None else outcome.calibrated.verdict
    return (
        f"{result.verdict:<8} latency {latency.baseline:.2f} -> {latency.candidate:.2f} ms "
        f"(shift {latency.delta:+.2f}, tolerance ±{latency.tolerance:.2f}, p={latency.p_value:.2g}"
        f" on {latency.unit_text()}; per request p={outcome.request_p:.2g}) failed: {failed}; "
        f"calibrated: {calibrated}"
    )


def rate(hits: int, total: int) -> str:
    return f"{hits}/{total}" + (f" ({100 * hits / total:.0f} %)" if total else "")


def summary(outcomes: list[PairOutcome]) -> list[str]:
    identical = [o for o in outcomes if o.kind == "identical"]
    slow = [o for o in outcomes if o.kind == "slow"]

    def latency_p(o: PairOutcome) -> float:
        latency = next(m for m in o.result.metrics if m.metric == "latency_ms")
        return 1.0 if latency.p_value is None else latency.p_value

    def detected(result: ComparisonResult | None) -> bool:
        return (
            result is not None
            and result.verdict == "Fail"
            and "latency_ms" in result.critical_failures
        )

    def alarm(result: ComparisonResult | None) -> bool:
        return result is not None and result.verdict in ("Fail", "Marginal")

    def verdicts(results: list[ComparisonResult]) -> str:
        counts = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
        return ", ".join(f"{v} {n}" for v, n in counts.items() if n)

    def unweighed(result: ComparisonResult) -> str:
        """The verdict the window statistics and tolerances alone give (no host weighing)."""
        failing = [
            m for m in result.metrics
            if m.failed or (getattr(m, "inconclusive", False) and m.classification == "High")
        ]  # fmt: skip
        judged = sum(m.classification != "NoData" for m in result.metrics)
        score = 100.0 * (judged - len(failing)) / judged if judged else 0.0
        return verdict_of(score, any(m.critical for m in failing), judged, CompareConfig())

    def unweighed_counts(results: list[ComparisonResult]) -> str:
        verdicts = [unweighed(r) for r in results]
        return ", ".join(f"{v} {verdicts.count(v)}" for v in VERDICTS if verdicts.count(v))

    with_calibration = [o for o in identical if o.calibrated is not None]
    slow_calibrated = [o for o in slow if o.calibrated is not None]
    return [
        "identical pairs, latency significant at 0.05: "
        f"windows {rate(sum(latency_p(o) < 0.05 for o in identical), len(identical))}, "
        f"per request {rate(sum(o.request_p < 0.05 for o in identical), len(identical))}",
        f"identical pairs, defaults: {verdicts([o.result for o in identical])}; false alarms "
        f"(Fail or Marginal) {rate(sum(alarm(o.result) for o in identical), len(identical))}"
        f"  [per-request method, latency High: {rate(sum(o.request_high for o in identical), len(identical))}]",
        f"+delay pairs, defaults: {verdicts([o.result for o in slow])}; detections (Fail with "
        f"latency_ms failed) {rate(sum(detected(o.result) for o in slow), len(slow))}"
        f"  [per-request method: {rate(sum(o.request_high for o in slow), len(slow))}]",
        "without weighing the host's disturbance (windows and tolerances alone): identical "
        f"pairs {unweighed_counts([o.result for o in identical])}; +delay pairs "
        f"{unweighed_counts([o.result for o in slow])}",
        "with a calibration of the other steady runs: identical pairs "
        f"{verdicts([o.calibrated for o in with_calibration if o.calibrated])}, false alarms "
        f"{rate(sum(alarm(o.calibrated) for o in with_calibration), len(with_calibration))}; "
        f"+delay pairs {verdicts([o.calibrated for o in slow_calibrated if o.calibrated])}, "
        f"detections {rate(sum(detected(o.calibrated) for o in slow_calibrated), len(slow_calibrated))}",
    ]


def parse_runs_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """`parser`'s arguments and those of a bench that makes runs or judges a folder of
    them: --reports, --state-dir, --judge."""
    parser.add_argument("--reports", type=Path, default=None, help="keep the runs here")
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--judge", type=Path, default=None, metavar="DIR", help="judge only")
    return parser.parse_args(argv)


def runs_folder(
    args: argparse.Namespace, prefix: str, make: Callable[[argparse.Namespace, Path], None]
) -> Path:
    """The folder of runs to judge: --judge's, else one `make` fills (--reports, else a new
    temporary one, said)."""
    if args.judge is not None:
        return Path(args.judge)
    reports = args.reports or Path(tempfile.mkdtemp(prefix=prefix)) / "runs"
    print(f"runs in {reports}", flush=True)
    make(args, reports)
    return Path(reports)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.calibrate_compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--pairs", type=int, default=5, help="K (2K+1 runs)")
    parser.add_argument("--experiment", type=Path, default=None, help="default: steady shop")
    parser.add_argument("--duration", default=None, help="scale each run to this length")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="the toxic's latency")
    args = parse_runs_args(parser, argv)
    reports = runs_folder(args, "calibrate-compare-", collect)
    outcomes = judge_all(reports)
    for outcome in outcomes:
        print(f"{outcome.kind:<9} {latency_line(outcome)}")
    for line in summary(outcomes):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
