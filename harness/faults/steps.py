"""Rollback entries and steps: how to undo a fault, typed, stored as JSON in the ledger.

An entry is `RollbackEntry(fault, kind, target, steps)`; on disk (the `entry` of a ledger
`begin` line) it is `{"fault": NAME, "kind": KIND, "target": TARGET, "steps": [STEP, ...]}`.
Each step is a `RollbackStep` model whose `action` (a Literal) says which: the step types
are pydantic models discriminated by `action`, each registered with the function that
carries it out (`StepKind`, in `harness.faults.kinds`). A step is self-contained: it needs
nothing but what it holds (and, for a `DeploymentStep`, the deployment's state file), so
that `meshproof recover` can undo a fault after the harness that applied it was SIGKILLed.
Steps are idempotent: undoing what is already undone is a no-op, so a rollback may be
tried again. A secret (the control plane token) is never written into a step; the step
names the file that holds it.

The JSON of every step is the same as before the steps were typed, so a ledger written by
an older meshproof still reads.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict, SerializeAsAny

S = TypeVar("S", bound="RollbackStep")
T = TypeVar("T")

RestartFn = Callable[[Path, str], None]
"""Starts process `name` again, of the deployment whose state file is given."""


class RollbackStep(BaseModel):
    """One self-contained, idempotent action; a subclass fixes `action` with a Literal."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    action: str

    def describe(self) -> str:
        """One line saying what the step does, for `meshproof recover`'s output."""
        raise NotImplementedError(f"{type(self).__name__} says nothing about itself")


class DeploymentStep(RollbackStep):
    """A step on a part of a deployment meshproof runs. When its state file is gone, the
    deployment was taken down: nothing it ran is left to undo, and the step is a no-op."""

    state_file: Path


class RollbackEntry(BaseModel):
    """How to undo one fault: its steps, in order."""

    model_config = ConfigDict(frozen=True)

    fault: str
    kind: str
    target: str
    steps: list[SerializeAsAny[RollbackStep]]

    def to_json(self) -> dict[str, Any]:
        """The entry as the ledger holds it."""
        return self.model_dump(mode="json")


@dataclass
class StepTools:
    """What carrying out a step may need beyond the step: how a process is restarted, and
    clients shared by the steps of one recovery (made on first use, by `shared`)."""

    restart: RestartFn
    force: bool = False
    """`meshproof recover --force`: restore what someone else changed since the fault."""
    call_timeout_s: float | None = None
    """`meshproof recover`: an API call is sent once and may take this long, and once a
    server was found unreachable the later calls to it fail at once (the faults stay in
    the ledger). None: the clients' own timeout and retries (the run's own rollback)."""
    _clients: dict[Hashable, object] = field(default_factory=dict, repr=False)

    def shared(self, key: Hashable, make: Callable[[], T]) -> T:
        """The client stored under `key`, made by `make()` the first time it is asked for."""
        if key not in self._clients:
            self._clients[key] = make()
        return cast(T, self._clients[key])


@dataclass(frozen=True)
class StepKind(Generic[S]):
    """A rollback step type and the function that carries it out (raising FaultError)."""

    model: type[S]
    run: Callable[[S, StepTools], None]

    @property
    def action(self) -> str:
        default = self.model.model_fields["action"].default
        assert isinstance(default, str), f"{self.model.__name__}.action needs a default"
        return default
