"""The fixed cost of a `meshproof run` on the local runtime, stage by stage.

    python -m harness.bench.run_overhead [--baseline REV] [--rounds 2]
                                         [--experiment experiments/retry-masks-503.yaml]
                                         [--duration 10s]

Each round runs the experiment once with `meshproof run --duration D` (a process of its
own, its own state directory and run directory under a temporary folder) and times the
lines it prints (no terminal: a line per stage) as they arrive. The stages, each from the
line that starts it to the next one's:

- startup: the command's start to "deploying ..." (imports, the experiment file);
- deploy: to "every sidecar runs config version N" (every process started and ready);
- prometheus: to "starting the load" (Prometheus has scraped every sidecar; the run's
  first record of where it happened);
- load start: to "running" (the Locust master and workers ready, t0 picked);
- run: to "rolling back faults and stopping the load" (the schedule, D);
- collect: to "tearing down ..." (faults rolled back, the load stopped, spans, metrics
  and resources read);
- teardown: to "analysing";
- analyse: to the process's exit (analysis, verdicts, the run directory written).

With `--baseline REV`, git revision REV's `harness` and `mesh_runtime` run the same
experiment (this tree's file and topology) in alternation with this tree's, in the order
A B, B A, ... so a drifting host favours neither; the medians are printed side by side.
A run's exit code 1 (an SLO failed, e.g. on a loaded host) or 3 (a verdict inconclusive on
a noisy host) still times its stages; 2 (the run could not be done) stops the bench.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.bench.pairs import revision_tree, round_order
from harness.errors import RunError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_EXPERIMENT = REPO / "experiments" / "retry-masks-503.yaml"
STAGES = (
    ("startup", "deploying "),
    ("deploy", "every sidecar runs config version"),
    ("prometheus", "starting the load"),
    ("load start", "running"),
    ("run", "rolling back faults"),
    ("collect", "tearing down"),
    ("teardown", "analysing"),
)
"""Each stage and the text of the line that ends it (the next one starts there); the
last stage, analyse, ends with the process."""
NAMES = (*(name for name, _ in STAGES), "analyse", "total")
CLI = "import sys; from harness.cli.main import main; sys.exit(main(sys.argv[1:]))"


def timed_run(experiment: Path, duration: str, work: Path, source: Path | None) -> dict[str, float]:
    """One `meshproof run` of `experiment` from `source` (None: this tree); seconds per stage."""
    env = {**os.environ, "PYTHONPATH": str(source or REPO), "PYTHONUNBUFFERED": "1"}
    env["MESHPROOF_STATE_DIR"] = str(work / "state")
    env.setdefault("MESHPROOF_TOOLS_DIR", str(REPO / ".tools" / "bin"))  # REV's tree has none
    env.pop("COLUMNS", None)
    command = [sys.executable, "-c", CLI, "run", str(experiment), "--duration", duration]
    command += ["--out", str(work / "runs")]
    timed: list[tuple[float, str]] = []
    start = time.monotonic()
    # In the tree: `python -c` and every `python -m` the run starts (sidecars, services)
    # put the working directory first on sys.path, before PYTHONPATH.
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
        cwd=source or REPO,
    ) as child:
        assert child.stdout is not None
        timed += [(time.monotonic(), line.rstrip()) for line in child.stdout]
        code = child.wait()
    seconds = stage_seconds(timed, start, time.monotonic())
    if code not in (0, 1, 3) or seconds is None:
        tail = "\n".join(line for _, line in timed[-15:])
        raise RunError(f"the run exited {code}; its last lines:\n{tail}")
    return seconds


def stage_seconds(
    timed: list[tuple[float, str]], start: float, end: float
) -> dict[str, float] | None:
    """Seconds per stage (and `total`) from the run's lines and when each came; None when
    a stage's line is missing. Pure."""
    marks: dict[str, float] = {}
    for when, line in timed:
        _, _, text = line.partition(": ")
        for name, marker in STAGES:
            if name not in marks and text.startswith(marker):
                marks[name] = when
    if len(marks) < len(STAGES):
        return None
    seconds: dict[str, float] = {}
    previous = start
    for name, _ in STAGES:
        seconds[name] = marks[name] - previous
        previous = marks[name]
    seconds["analyse"] = end - previous
    seconds["total"] = end - start
    return seconds


def run_rounds(
    experiment: Path, duration: str, rounds: int, baseline: str | None
) -> dict[str, list[dict[str, float]]]:
    """Each round: REV's tree and this one (order alternating), one run each."""
    with tempfile.TemporaryDirectory(prefix="meshproof-bench-overhead-") as tmp:
        work = Path(tmp)
        sides: dict[str, Path | None] = {"now": None}
        if baseline is not None:
            sides = {
                "base": revision_tree(baseline, work, ("harness", "mesh_runtime")),
                "now": None,
            }
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
        for number in range(1, rounds + 1):
            for name in round_order(list(sides), number):
                seconds = timed_run(experiment, duration, work / f"{name}-{number}", sides[name])
                runs[name].append(seconds)
                cells = " ".join(f"{stage} {seconds[stage]:.2f}" for stage in NAMES)
                load = os.getloadavg()[0]
                print(f"  round {number}/{rounds} {name:4} {cells}; load {load:.1f}", flush=True)
    return runs


def table(runs: dict[str, list[dict[str, float]]]) -> str:
    """Median seconds per stage, a column per side (and base - now with a baseline)."""
    sides = list(runs)
    header = f"{'stage':<11}" + "".join(f"{side:>9}" for side in sides)
    if len(sides) == 2:
        header += f"{'saved':>9}"
    rows = [header]
    for stage in NAMES:
        medians = [statistics.median(run[stage] for run in runs[side]) for side in sides]
        row = f"{stage:<11}" + "".join(f"{m:9.2f}" for m in medians)
        if len(medians) == 2:
            row += f"{medians[0] - medians[1]:9.2f}"
        rows.append(row)
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.run_overhead", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--baseline", metavar="REV", help="git revision REV's run beside this")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--experiment", type=Path, default=DEFAULT_EXPERIMENT)
    parser.add_argument("--duration", default="10s", help="the run's --duration")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"{args.experiment.name} --duration {args.duration}, load {load:.1f} at the start")
    try:
        runs = run_rounds(args.experiment.resolve(), args.duration, args.rounds, args.baseline)
    except RunError as exc:
        print(f"run overhead benchmark: {exc}", file=sys.stderr)
        return 2
    print(f"median seconds of {args.rounds} round(s); load {os.getloadavg()[0]:.1f} at the end")
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
