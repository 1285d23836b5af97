"""What a run shows while it goes: a rich live panel (a terminal), a line at a time (a CI
log), or nothing at all (`--quiet`); `progress_view` picks one.

The engine hands a `Snapshot` to its `ProgressView` about once a second and tells it
about stages ("deploying shop", "analysing"). Without a terminal, `LineProgress` prints
each stage, a line at each phase change and one every `LINE_EVERY_S` seconds. When
requests leave late, both say so loudly ("load BEHIND schedule: 312 late, max lag
4.2 s, 180 connections"). The final lines (verdicts and the report folder) are the CLI's,
printed in every mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from harness.spec.phase import AFTER, BEFORE, BETWEEN, WARMUP, Phase


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
    target_rps: float = 0.0
    """The schedule's intended rate now (0: not known)."""
    late: int = 0
    """Requests sent late so far (over LATE_BOUND_MS after their intended time)."""
    max_lag_ms: float = 0.0
    """The largest send lag of the last few seconds."""
    connections: int = 0
    """Connections the load has open now."""
    behind: bool = False
    """Requests are leaving late right now, by more than the phases' FELL_BEHIND_LAG_MS."""
    window_s: int = 0
    """The whole seconds just past that rps, error rate and p99 cover (0: not known): just
    after a phase change they are the phase before's."""


LINE_EVERY_S = 10.0
"""Without a terminal, a progress line at least this often (and at each phase change)."""


def behind_text(snap: Snapshot) -> str:
    """'load BEHIND schedule: 312 late, max lag 4.2 s, 180 connections', or '' on time."""
    if not snap.behind:
        return ""
    lag = (
        f"{snap.max_lag_ms / 1000:.1f} s"
        if snap.max_lag_ms >= 1000
        else f"{snap.max_lag_ms:.0f} ms"
    )
    return f"load BEHIND schedule: {snap.late} late, max lag {lag}, {snap.connections} connections"


def rate_text(snap: Snapshot) -> str:
    """'98 rps', or '52 rps (target 100)' when the achieved rate is off the intended one."""
    text = f"{snap.rps:.0f} rps"
    if snap.target_rps and abs(snap.rps - snap.target_rps) > 0.05 * snap.target_rps:
        text += f" (target {snap.target_rps:.0f})"
    return text


def recent_text(snap: Snapshot) -> str:
    """'last 3s: 98 rps err 0.00% p99 12 ms': the load's recent figures, with the seconds
    they cover (just after a phase change, the phase before's)."""
    since = f"last {snap.window_s}s: " if snap.window_s else ""
    return f"{since}{rate_text(snap)}  err {snap.error_rate * 100:.2f}%  p99 {snap.p99_ms:.0f} ms"


def progress_line(snap: Snapshot) -> str:
    """One line of the run for a log: time, phase, the load's live numbers, faults, lag."""
    faults = ", ".join(snap.active_faults) or "none"
    line = (
        f"{max(snap.elapsed_s, 0):.0f}s/{snap.total_s:.0f}s  phase {snap.phase}  "
        f"{recent_text(snap)}  sent {snap.sent} failed {snap.failed}  faults: {faults}"
    )
    behind = behind_text(snap)
    return f"{line}  !! {behind}" if behind else line


def phase_at(
    elapsed_s: float, warmup_s: float, active: Sequence[str], faults_seen: int, faults_due: int
) -> str:
    """The phase name a display shows at `elapsed_s`: a request's primary phase
    (`harness.analysis.phases`), with `during:a,b` while faults a and b are on. Of the
    `faults_due` faults the run will apply, `faults_seen` went on so far: between them
    it is `between`, and `after` only once the last one is off. Pure."""
    if elapsed_s < warmup_s:
        return str(WARMUP)
    if active:
        return str(Phase.during(",".join(active)))
    if not faults_seen:
        return str(BEFORE)
    return str(AFTER if faults_seen >= faults_due else BETWEEN)


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


class LineProgress:
    """No terminal (a CI log): a line per stage, per phase change, every LINE_EVERY_S s,
    and at once when the load starts falling behind."""

    def __init__(
        self,
        title: str,
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
        every_s: float = LINE_EVERY_S,
    ) -> None:
        self._title = title
        self._console = console or Console()
        self._clock = clock
        self._every_s = every_s
        self._last_at: float | None = None
        self._last_phase = ""
        self._was_behind = False

    def stage(self, text: str) -> None:
        self._print(f"{self._title}: {text}")

    def update(self, snapshot: Snapshot) -> None:
        now = self._clock()
        changed = snapshot.phase != self._last_phase or snapshot.behind != self._was_behind
        if changed or self._last_at is None or now - self._last_at >= self._every_s:
            self._print(progress_line(snapshot))
            self._last_at = now
        self._last_phase = snapshot.phase
        self._was_behind = snapshot.behind

    def close(self) -> None:
        """Nothing to close: every line is printed already."""

    def _print(self, line: str) -> None:
        self._console.print(line, markup=False, highlight=False, soft_wrap=True)


def progress_view(title: str, console: Console, quiet: bool = False) -> ProgressView:
    """Nothing with `quiet`; the live panel in a terminal; a line at a time elsewhere."""
    if quiet:
        return QuietProgress()
    if console.is_terminal:
        return LiveProgress(title, console)
    return LineProgress(title, console)


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
            f"  {recent_text(snap)}",
            f"  sent {snap.sent} failed {snap.failed}",
            f"  connections {snap.connections}" if snap.connections else "",
        )
        faults = ", ".join(snap.active_faults) or "none"
        parts = [header, line, Text(f"active faults: {faults}", style="yellow")]
        behind = behind_text(snap)
        if behind:
            parts.append(Text(behind, style="bold white on red"))
        return Group(*parts)
