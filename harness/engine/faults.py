"""The faults of a run: applied and reverted on the timeline, always on the ledger first.

Every injector is built before the load starts (so a target that does not exist fails
the run at once, exit code 2, before anything was touched). At its time a fault's
rollback entry is written to the fsynced ledger, then the fault is applied; at its end
it is reverted and marked done. `finish()` reverts whatever is still in effect, newest
first, through the injector and, should that fail, from the ledger entry alone, so that
nothing is left behind: no toxic, no paused process, no changed policy.

A rolling restart takes longer than an instant (its kind is registered `background`:
harness.faults.kinds), so it is applied in a thread of its own
and the timeline goes on; `finish()` cuts it short (`FaultContext.stop`) and waits for it.
An apply cut short that way did not do all it was meant to (a restart of some parts
only): `cut_short()` says so, one sentence each, for the run's notes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.engine.events import EventLog
from harness.engine.timeline import Action
from harness.errors import FaultError
from harness.faults import FaultContext, FaultLedger, Injector, RollbackExecutor
from harness.faults.kinds import REGISTRY
from harness.spec.experiment import Experiment
from harness.spec.faults import FaultSpec
from harness.store.model import FaultEvent
from mesh_runtime.errors import MeshproofError

JOIN_TIMEOUT_S = 120.0


@dataclass
class _Active:
    spec: FaultSpec
    injector: Injector
    start_s: float
    thread: threading.Thread | None = None
    error: BaseException | None = None


class FaultRunner:
    """Applies and reverts the experiment's faults through injectors and the ledger."""

    def __init__(
        self,
        experiment: Experiment,
        ctx: FaultContext,
        ledger: FaultLedger,
        events: EventLog,
        *,
        executor: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self._specs = {fault.name: fault for fault in experiment.faults}
        self._ctx = ctx
        self._ledger = ledger
        self._events = events
        self._executor = executor or RollbackExecutor()
        self._injectors = {
            name: REGISTRY.make_injector(spec, ctx) for name, spec in self._specs.items()
        }
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self.applied: list[FaultEvent] = []
        self._cut_short: list[str] = []

    def active_names(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def execute(self, action: Action) -> None:
        """Carry out a timeline action (the end of load is not a fault's business)."""
        if action.kind == "apply":
            self.apply(action.fault)
        elif action.kind == "revert":
            self.revert(action.fault)

    def apply(self, name: str) -> None:
        spec, injector = self._specs[name], self._injectors[name]
        self._ledger.begin(name, injector.rollback_entry())
        self._events.add("fault", name, f"apply {spec.kind} on {_target(spec)}")
        active = _Active(spec, injector, start_s=self._events.now_s())
        with self._lock:
            self._active[name] = active
        if REGISTRY.kind(spec.kind).background:
            active.thread = threading.Thread(
                target=self._apply_in_background, args=(active,), name=f"fault-{name}", daemon=True
            )
            active.thread.start()
            return
        injector.apply()
        active.start_s = self._events.add("fault", name, "applied")

    def _apply_in_background(self, active: _Active) -> None:
        try:
            active.injector.apply()
            # An apply the stop cut short returns too: say which it was.
            stopped = self._ctx.stop.is_set()
            done = "cut short by the end of the run" if stopped else "finished"
            self._events.add("fault", active.spec.name, f"applied ({done})")
            if stopped:
                with self._lock:
                    self._cut_short.append(active.spec.name)
        except BaseException as exc:  # reported by revert() or finish()
            active.error = exc
            self._events.add("fault", active.spec.name, f"apply failed: {exc}")

    def revert(self, name: str) -> None:
        """Undo fault `name` (its apply finished first) and mark it done on the ledger."""
        with self._lock:
            active = self._active.get(name)
        if active is None:
            return
        self._join(active)
        active.injector.revert()
        self._ledger.done(name)
        end_s = self._events.add("fault", name, "reverted")
        self._record(active, end_s)
        if active.error is not None:
            raise FaultError(f"fault {name!r}: {active.error}") from active.error

    def finish(self) -> list[str]:
        """Revert every fault still in effect, newest first; returns the problems met."""
        self._ctx.stop.set()
        problems: list[str] = []
        with self._lock:
            remaining = list(self._active.values())
        for active in reversed(remaining):
            problems.extend(self._finish_one(active))
        try:
            self._ledger.rollback_all(self._executor)
        except MeshproofError as exc:
            problems.append(str(exc))
        return problems

    def _finish_one(self, active: _Active) -> list[str]:
        name = active.spec.name
        try:
            self._join(active)
            active.injector.revert()
            self._ledger.done(name)
            self._events.add("fault", name, "rolled back at the end of the run")
        except Exception as exc:  # the ledger entry is the fallback, below
            self._events.add("fault", name, f"revert failed, rolling back from the ledger: {exc}")
        self._record(active, None)
        if active.error is not None:
            return [f"fault {name!r}: {active.error}"]
        return []

    def _join(self, active: _Active) -> None:
        if active.thread is not None:
            active.thread.join(JOIN_TIMEOUT_S)
            if active.thread.is_alive():
                raise FaultError(f"fault {active.spec.name!r} did not finish applying")

    def _record(self, active: _Active, end_s: float | None) -> None:
        spec = active.spec
        params = (
            spec.params
            if isinstance(spec.params, dict)
            else spec.params.model_dump(mode="json", exclude_none=True)
        )
        event = FaultEvent(
            name=spec.name,
            kind=spec.kind,
            target=_target(spec),
            start_s=active.start_s,
            end_s=end_s,
            params=dict(params),
        )
        with self._lock:
            self._active.pop(spec.name, None)
            self.applied.append(event)

    def cut_short(self) -> list[str]:
        """A sentence for each fault whose background apply the end of the run stopped
        before it was done (a rolling restart of only some of its parts)."""
        with self._lock:
            names = list(self._cut_short)
        return [
            f"fault {name} ({self._specs[name].kind}) was cut short by the end of the run"
            " before it was done: the run measured only part of it"
            for name in names
        ]

    def events_so_far(self) -> list[FaultEvent]:
        """Faults applied so far: finished ones with their end, active ones open-ended."""
        with self._lock:
            done = list(self.applied)
            active = list(self._active.values())
        pending = [
            FaultEvent(
                name=a.spec.name, kind=a.spec.kind, target=_target(a.spec), start_s=a.start_s
            )
            for a in active
        ]
        return sorted([*done, *pending], key=lambda f: f.start_s)


def _target(spec: FaultSpec) -> str:
    return str(getattr(spec, "target", ""))
