"""FaultRunner's events for a fault applied in the background (a rolling restart): what
they say of an apply the end of the run cut short."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.engine import faults as engine_faults
from harness.engine.events import EventLog
from harness.errors import ExperimentError
from harness.faults import FaultContext, FaultLedger
from harness.faults.steps import RollbackEntry
from harness.spec import Experiment
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.validation import model_from_data
from tests.conftest import poll


class SlowRestart:
    """Restarts `parts` one at a time until told to stop (as every background kind does)."""

    def __init__(self, stop: threading.Event, parts: int) -> None:
        self.stop, self.parts, self.done = stop, parts, 0
        self.started = threading.Event()

    def rollback_entry(self) -> RollbackEntry:
        return RollbackEntry(fault="roll", kind="rolling_restart", target="sidecars", steps=[])

    def apply(self) -> None:
        self.started.set()
        for _ in range(self.parts):
            if self.stop.wait(0.01 if self.parts == 1 else 60):
                return
            self.done += 1

    def revert(self) -> None:
        """Nothing to undo here."""


def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parts: int) -> Any:
    data = {
        "title": "t",
        "target": {"topology": "topologies/shop.yaml"},
        "load": {"rps": 5, "warmup": "1s", "duration": "60s"},
        "faults": [{"name": "roll", "kind": "rolling_restart", "target": "sidecars", "at": "1s"}],
    }
    experiment = model_from_data(data, Experiment, "x.yaml", ExperimentError)
    work = tmp_path / "state" / "work" / "shop"
    deployment = Deployment(topology_file="shop", ingress_url="", work_dir=str(work))
    ctx = FaultContext(deployment=deployment)
    injector = SlowRestart(ctx.stop, parts)
    registry = SimpleNamespace(
        make_injector=lambda spec, ctx: injector,
        kind=lambda kind: SimpleNamespace(background=True),
    )
    monkeypatch.setattr(engine_faults, "REGISTRY", registry)
    events = EventLog(t0=0.0)
    ledger = FaultLedger(tmp_path / "faults.ledger.jsonl")
    return engine_faults.FaultRunner(experiment, ctx, ledger, events), injector, events


def details(events: EventLog) -> list[str]:
    frame = events.frame()
    return [str(detail) for detail in frame[frame["name"] == "roll"]["detail"]]


def test_a_background_apply_the_run_cut_short_is_not_said_to_have_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run ends while the restart is on its first of six parts: its events say the
    apply was cut short, never 'applied (finished)'."""
    faults, injector, events = runner(tmp_path, monkeypatch, parts=6)
    faults.apply("roll")
    assert injector.started.wait(10)
    assert faults.finish() == []
    assert injector.done == 0
    assert "applied (cut short by the end of the run)" in details(events)
    assert "applied (finished)" not in details(events)


def test_a_background_apply_the_run_cut_short_is_named_for_the_runs_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart the end of the run stopped is a sentence for the notes, so a PASS of the
    run's SLOs does not read as the whole restart survived; a finished one is not."""
    faults, injector, _ = runner(tmp_path, monkeypatch, parts=6)
    faults.apply("roll")
    assert injector.started.wait(10)
    assert faults.cut_short() == []  # still going: nothing cut short yet
    faults.finish()
    assert faults.cut_short() == [
        "fault roll (rolling_restart) was cut short by the end of the run before it was"
        " done: the run measured only part of it"
    ]
    finished, _, events = runner(tmp_path / "b", monkeypatch, parts=1)
    finished.apply("roll")
    poll(lambda: len(details(events)) == 2, timeout=10, interval=0.01, what="its apply")
    finished.finish()
    assert finished.cut_short() == []


def test_a_background_apply_that_ran_to_its_end_says_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart whose parts were all done before its revert says 'applied (finished)'."""
    faults, injector, events = runner(tmp_path, monkeypatch, parts=1)
    faults.apply("roll")
    poll(lambda: len(details(events)) == 2, timeout=10, interval=0.01, what="its apply")
    faults.revert("roll")
    assert injector.done == 1
    assert details(events)[1] == "applied (finished)"
