"""How a run ended, before its SLOs are judged: `RunOutcome`. Pure.

A run `completed` (its timeline ran to the end), was `aborted` (SIGINT, SIGTERM) or
stopped on an `error` (a part failed, the analysis failed), with the reason. Rolling the
faults back at the end may leave problems (`rollback_problems`); a run that completed
with any is an error, since the deployment may not be as it was. Not to be confused with
a verdict's outcome (`harness.store.model.Outcome`: pass, fail, inconclusive).

run.json keeps it as it always has: `status` (`aborted` / `error`, or the verdicts' status
for a completed run) and `error`, the reason (an aborted run's with `aborted: ` before
it); the run's notes hold `str(outcome)` (`aborted: <reason>`, `error: <reason>`) and a
`rollback: <problem>` line per problem.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

RunEnd = Literal["completed", "aborted", "error"]
NOTHING_MEASURED = "nothing was measured"


@dataclass(frozen=True)
class RunOutcome:
    """`status` and `reason` of a run's end, and what its rollback could not undo."""

    status: RunEnd = "completed"
    reason: str = ""
    rollback_problems: tuple[str, ...] = ()

    @classmethod
    def aborted(cls, reason: str) -> RunOutcome:
        return cls("aborted", reason)

    @classmethod
    def error(cls, reason: str) -> RunOutcome:
        return cls("error", reason)

    @property
    def stopped(self) -> bool:
        """The run did not run its timeline to the end (its phases end where it stopped)."""
        return self.status != "completed"

    def with_rollback_problems(self, problems: tuple[str, ...]) -> RunOutcome:
        return replace(self, rollback_problems=self.rollback_problems + problems)

    def failed_with(self, reason: str) -> RunOutcome:
        """This outcome, or an error for `reason` when the run had completed (the first
        failure is the one a run is remembered by)."""
        return self if self.stopped else replace(self, status="error", reason=reason)

    def final(self, measured: bool) -> RunOutcome:
        """The outcome run.json records: a completed run with rollback problems is an error
        naming them, and one with nothing `measured` an error saying so."""
        if self.stopped:
            return self
        if self.rollback_problems:
            problems = "; ".join(rollback_note(p) for p in self.rollback_problems)
            return replace(self, status="error", reason=problems)
        if not measured:
            return replace(self, status="error", reason=NOTHING_MEASURED)
        return self

    def record_error(self) -> str:
        """run.json's `error` for a stopped run (an aborted run's keeps its `aborted: `)."""
        return str(self) if self.status == "aborted" else self.reason or str(self)

    def __str__(self) -> str:
        return f"{self.status}: {self.reason}" if self.stopped else self.status


def rollback_note(problem: str) -> str:
    """The run's note for one rollback problem."""
    return f"rollback: {problem}"
