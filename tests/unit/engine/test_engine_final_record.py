"""run.json's final fields of a run stopped early (`harness.engine.results.final_record`)."""

from __future__ import annotations

import time

from harness.engine.outcome import RunOutcome
from harness.engine.results import final_record
from harness.store import ExperimentRef, RunRecord
from harness.store.meaning import first_impossible


def test_a_run_stopped_before_its_loads_t0_lasted_0_s_not_a_negative_time() -> None:
    """The load's t0 is picked ahead of the start (as Locust spawns): a run stopped before
    it came measured for 0 s, and its record is one the reader takes."""
    record = RunRecord(
        id="r1", experiment=ExperimentRef(name="e"), started_at="2026-12-07T07:00:00Z"
    )
    t0 = time.time() + 60.0
    done = final_record(record, t0, None, [], RunOutcome.aborted("stopped"), "mesh", None)
    assert done.duration_s == 0.0
    assert done.status == "aborted"
    assert first_impossible(done.model_copy(update={"status": "failed"})) is None
