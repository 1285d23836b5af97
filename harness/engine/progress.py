"""What a run shows while it goes: a rich live panel, or nothing at all (`--quiet`).

The engine hands a `Snapshot` to its `ProgressView` about once a second and tells it
about stages ("deploying shop", "analysing"). The final lines (verdicts and the report
folder) are the CLI's, printed in every mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text


@dataclass(frozen=True)
class Snapshot:
    """The run at one moment: where it is on the timeline and what the load sees."""

    phase: str
    elapsed_s: float
    total_s: float
    rps: float = 0.0
    error_rate: float = 0.0
    p99_ms: float = 0.0
    sent: int = 0
    failed: int = 0
    active_faults: Sequence[str] = field(default_factory=tuple)


def phase_at(elapsed_s: float, warmup_s: float, active: Sequence[str], faults_seen: int) -> str:
    """The phase name a display shows at `elapsed_s`. Pure."""
    if elapsed_s < warmup_s:
        return "warmup"
    if active:
        return "during:" + ",".join(active)
    return "after" if faults_seen else "before"


class ProgressView(Protocol):
    def stage(self, text: str) -> None: ...

    def update(self, snapshot: Snapshot) -> None: ...

    def close(self) -> None: ...


class QuietProgress:
    """`--quiet`: nothing while the run goes (CI logs get only the final lines)."""

    def stage(self, text: str) -> None:
        """Nothing to show."""

    def update(self, snapshot: Snapshot) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


class LiveProgress:
    """A rich live panel: stage, phase, elapsed / total, RPS, error rate, p99, faults."""

    def __init__(self, title: str, console: Console | None = None) -> None:
        self._title = title
        self._console = console or Console()
        self._stage = "starting"
        self._snapshot: Snapshot | None = None
        self._live: Live | None = None

    def stage(self, text: str) -> None:
        self._stage = text
        if self._live is None:
            self._console.print(f"[dim]{text}[/dim]")
        else:
            self._live.update(self._render())

    def update(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        if self._live is None:
            self._live = Live(self._render(), console=self._console, refresh_per_second=2)
            self._live.start()
        else:
            self._live.update(self._render())

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None
            self._console.print()

    def _render(self) -> Group:
        header = Text.assemble((self._title, "bold"), "  ", (self._stage, "cyan"))
        snap = self._snapshot
        if snap is None:
            return Group(header)
        line = Text.assemble(
            ("phase ", "dim"),
            (snap.phase, "bold"),
            f"  {max(snap.elapsed_s, 0):.0f}s/{snap.total_s:.0f}s",
            f"  {snap.rps:.0f} rps",
            f"  err {snap.error_rate * 100:.2f}%",
            f"  p99 {snap.p99_ms:.0f} ms",
            f"  sent {snap.sent} failed {snap.failed}",
        )
        faults = ", ".join(snap.active_faults) or "none"
        return Group(header, line, Text(f"active faults: {faults}", style="yellow"))
