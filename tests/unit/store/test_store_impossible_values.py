"""run.json numbers no run can have (hand-edited or damaged) are refused where run.json is
read, naming the field: they were shown, compared and gated on as if measured. What a
real run may hold (zeros, equal percentiles, a run stopped in warm-up) still loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.gate import GateSettings
from harness.gate.gate import gate_run
from harness.store import list_runs, load_run
from mesh_runtime.errors import InvalidInput

RUN_ID = "20261127T154000Z-demo"


def record(**changes: Any) -> dict[str, Any]:
    """A passed run's run.json as a dict, with `changes` at the top level."""
    values = {"rps": 50.0, "error_rate": 0.01, "p50_ms": 12.0, "p90_ms": 20.0,
              "p99_ms": 40.0, "p999_ms": 55.0, "corrected_p99_ms": 42.0}  # fmt: skip
    data: dict[str, Any] = {
        "schema_version": 1,
        "id": RUN_ID,
        "experiment": {"name": "demo"},
        "status": "passed",
        "started_at": "2026-11-27T15:40:00Z",
        "ended_at": "2026-11-27T15:40:45Z",
        "duration_s": 45.0,
        "phases": [
            {"name": "warmup", "start_s": 0.0, "end_s": 5.0},
            {"name": "before", "start_s": 5.0, "end_s": 15.0},
            {"name": "during:f", "start_s": 15.0, "end_s": 25.0},
            {"name": "whole", "start_s": 5.0, "end_s": 45.0},
        ],
        "faults": [{"name": "f", "kind": "k", "target": "t", "start_s": 15.0, "end_s": 25.0}],
        "verdicts": [
            {
                "slo": "p99_ms < 250",
                "metric": "p99_ms",
                "op": "<",
                "threshold": 250.0,
                "phase": "whole",
                "value": 40.0,
                "passed": True,
            }
        ],
        "summary": {"requests": 2000, **values},
        "phase_summaries": [{"phase": "whole", "start_s": 5.0, "end_s": 45.0, "values": values}],
        "traces": {"requests": 1990, "complete": 1980},
    }
    data.update(changes)
    return data


def write(root: Path, data: dict[str, Any], text: str | None = None) -> Path:
    run = root / str(data["id"])
    run.mkdir(parents=True)
    (run / "run.json").write_text(text if text is not None else json.dumps(data))
    return run


def edited(path: str, value: Any) -> dict[str, Any]:
    """`record()` with the value at `path` ('summary.p99_ms', 'phases.1.end_s') replaced."""
    data = record()
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    return data


IMPOSSIBLE = [
    pytest.param("ended_at", "2026-11-27T15:39:00Z", "ended_at",
                 "2026-11-27T15:39:00Z is before started_at", id="ended-before-started"),
    pytest.param("duration_s", -45.0, "duration_s", "cannot be negative", id="negative-duration"),
    pytest.param("phases.1.end_s", 4.0, "phases[1].end_s",
                 "ends at 4 s, before it starts at 5 s", id="phase-ends-before-it-starts"),
    pytest.param("faults.0.end_s", 10.0, "faults[0].end_s",
                 "ends at 10 s, before it starts at 15 s", id="fault-ends-before-it-starts"),
    pytest.param("summary.requests", -5, "summary.requests", "cannot be negative, got -5",
                 id="negative-request-count"),
    pytest.param("traces.complete", 2500, "traces.complete", "2500 of only 1990",
                 id="more-complete-traces-than-requests"),
    pytest.param("phase_summaries.0.values.p50_ms", -3.0, "phase_summaries[0].values.p50_ms",
                 "cannot be negative, got -3", id="negative-latency"),
    pytest.param("verdicts.0.value", -40.0, "verdicts[0].value", "cannot be negative",
                 id="negative-verdict-latency"),
    pytest.param("summary.error_rate", 1.5, "summary.error_rate",
                 "expected a share from 0 to 1, got 1.5", id="error-rate-above-1"),
    pytest.param("summary.error_rate", -0.01, "summary.error_rate",
                 "expected a share from 0 to 1", id="error-rate-below-0"),
    pytest.param("summary.p50_ms", 45.0, "summary.p90_ms",
                 "20 is below p50_ms 45 (percentiles cannot decrease)", id="p50-above-p90"),
]  # fmt: skip


@pytest.mark.parametrize(("where", "value", "path", "problem"), IMPOSSIBLE)
def test_a_number_no_run_can_have_is_refused_naming_the_field(
    tmp_path: Path, where: str, value: Any, path: str, problem: str
) -> None:
    """One InvalidInput naming run.json, the field and the problem; `list` shows it unreadable."""
    run = write(tmp_path, edited(where, value))
    with pytest.raises(InvalidInput) as caught:
        load_run(run)
    assert caught.value.source == str(run / "run.json")
    assert caught.value.path == path
    assert problem in caught.value.problem
    [listed] = list_runs(tmp_path)
    assert listed.status == "unreadable" and listed.problem.startswith(f"{path}: ")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_number_json_has_not_is_refused(tmp_path: Path, constant: str) -> None:
    """NaN / Infinity (Python's json reads them) and a number too large for a float are
    no JSON number; the writer writes no data as null, so no run has them."""
    text = json.dumps(record()).replace('"p99_ms": 40.0', f'"p99_ms": {constant}', 1)
    run = write(tmp_path, record(), text)
    with pytest.raises(InvalidInput, match=r"not valid JSON: .* (is not a JSON number|too large)"):
        load_run(run)


def test_what_a_real_run_may_hold_still_loads(tmp_path: Path) -> None:
    """Zeros, no data, equal percentiles (rounding), a run that took under a second."""
    values = {"rps": 0.0, "error_rate": 0.0, "p50_ms": 7.0, "p90_ms": 7.0, "p99_ms": None,
              "p999_ms": 9.0, "max_send_lag_ms": 0.0, "overhead_p99_ms": -1.5}  # fmt: skip
    data = record(
        ended_at="2026-11-27T15:40:00Z",
        summary={"requests": 0, **values},
        phase_summaries=[{"phase": "whole", "start_s": 5.0, "end_s": 5.0, "values": values}],
        traces={"requests": 0, "complete": 0},
    )
    assert load_run(write(tmp_path, data)).summary.p90_ms == 7.0


@pytest.mark.parametrize("status", ["aborted", "error"])
def test_a_run_stopped_before_its_load_began_still_loads(tmp_path: Path, status: str) -> None:
    """Stopped 2 s into a 5 s warm-up its `whole` phase ends before it starts, and stopped
    in the half second before t0 (picked ahead) its duration is negative: both are what
    the engine writes for such a run, so they are not refused there."""
    phases = [{"name": "warmup", "start_s": 0.0, "end_s": 5.0},
              {"name": "whole", "start_s": 5.0, "end_s": 2.0}]  # fmt: skip
    run = write(tmp_path, record(status=status, duration_s=-0.3, phases=phases))
    assert load_run(run).status == status


def test_the_gate_leaves_a_damaged_earlier_run_out_and_says_so(tmp_path: Path) -> None:
    """A history run with p50 above p99 is named as left out, not judged against."""
    summary = {"requests": 10, "p50_ms": 90.0, "p99_ms": 9.0}
    earlier = record(id="20261126T000000Z-demo", started_at="2026-11-26T00:00:00Z", summary=summary)
    write(tmp_path, earlier)
    result = gate_run(write(tmp_path, record()), None, GateSettings())
    assert result.history == []
    assert result.skipped == [
        "20261126T000000Z-demo: summary.p99_ms: 9 is below p50_ms 90 (percentiles cannot decrease)"
    ]


def test_report_of_a_damaged_run_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`meshproof report` says what is wrong in one line, no traceback."""
    run = write(tmp_path, edited("summary.error_rate", 7.0))
    assert main(["report", str(run)]) == 2
    error = capsys.readouterr().err
    assert error == (
        f"meshproof: {run}/run.json: summary.error_rate: expected a share from 0 to 1, got 7\n"
    )
