"""The load's workers as the run reports them: records received, done, or lost.

The master keeps a roster of every worker it handed a share of the schedule to (Locust
client id, records received, whether the worker said it was done, when it went missing;
`harness.load.transport.MasterFiles`). A worker lost before it was done (Locust found it
missing: no heartbeat; or it quit) has its whole share that did not reach the master
counted as unsent: what it sent and what it never sent cannot be told apart, and a
request whose record never arrived is not in the requests table either. Pure Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.load.pacer import share_of
from harness.load.schedule import Schedule
from harness.spec.load import LoadSpec


@dataclass(frozen=True)
class WorkerReport:
    index: int
    client_id: str
    """Locust's id of the worker (its host name and a random suffix)."""
    records: int
    """Records the master received from it."""
    share: int
    """Requests of the schedule that were this worker's."""
    status: Literal["done", "lost", "running"]
    lost_at: float | None = None
    """Wall-clock time the master found it gone."""
    gaps: int = 0
    """Batches of it that never arrived."""

    @property
    def lost(self) -> bool:
        return self.status == "lost"

    @property
    def unsent(self) -> int:
        """A lost worker's share whose records never reached the master (0 otherwise)."""
        return max(0, self.share - self.records) if self.lost else 0

    @property
    def name(self) -> str:
        return f"w{self.index} ({self.client_id})"


def worker_reports(spec: LoadSpec, roster: Sequence[dict[str, Any]]) -> list[WorkerReport]:
    """The master's roster (its state file's `workers`) as reports, by index."""
    total = Schedule.of(spec).total
    reports = []
    for row in sorted(roster, key=lambda r: int(r["index"])):
        index = int(row["index"])
        lost_at = row.get("lost_at")
        status: Literal["done", "lost", "running"] = (
            "done" if row.get("done") else "lost" if lost_at is not None else "running"
        )
        reports.append(
            WorkerReport(
                index=index,
                client_id=str(row.get("client_id", "")),
                records=int(row.get("records", 0)),
                share=share_of(total, index, spec.workers),
                status=status,
                lost_at=float(lost_at) if lost_at is not None else None,
                gaps=int(row.get("gaps", 0)),
            )
        )
    return reports
