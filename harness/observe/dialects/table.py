"""The signal -> metric table of every dialect, as experiments/README.md shows it (a unit
test keeps the README's copy equal to this)."""

from __future__ import annotations

from harness.observe.dialects.base import SIGNALS, Dialect, NoData, Signal
from harness.observe.dialects.consul import CONSUL
from harness.observe.dialects.istio import ISTIO
from harness.observe.dialects.linkerd import LINKERD
from harness.observe.dialects.meshproof import MESHPROOF

COLUMNS: tuple[Dialect, ...] = (ISTIO, LINKERD, CONSUL, MESHPROOF)


def markdown_table() -> str:
    """One row per signal: the series each dialect reads (selector), or no data and why."""
    head = ["signal", *(d.name for d in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for signal in SIGNALS:
        cells = [f"`{signal}`", *(_cell(d, signal) for d in COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(dialect: Dialect, signal: Signal) -> str:
    entry = dialect.signals[signal]
    if isinstance(entry, NoData):
        return f"no data: {entry.reason}".replace("|", "\\|")
    return "`" + entry.selector.render().replace("|", "\\|") + "`"
