"""One line on the spans sent to the user's OTLP/HTTP endpoint (run.json's `forward`)."""

from __future__ import annotations

from harness.store.model import ForwardRecord


def forward_line(forward: ForwardRecord) -> str:
    """'Spans forwarded to URL (meshproof.run.id=ID): 1200 sent, 0 dropped, ...'."""
    marks = ", ".join(f"{k}={v}" for k, v in forward.attributes.items())
    counts = (
        f"{forward.sent} sent, {forward.dropped} dropped (queue full),"
        f" {forward.failed} refused for good"
    )
    if forward.rejected:
        counts += f", {forward.rejected} rejected by the endpoint"
    if forward.unsent:
        counts += f", {forward.unsent} still queued when the run ended"
    counts += f"; {forward.failed_exports} of {forward.exports} exports failed"
    line = f"Spans forwarded to {forward.url}" + (f" ({marks})" if marks else "") + f": {counts}."
    if forward.last_error:
        line += f" Last error: {forward.last_error}."
    return line
