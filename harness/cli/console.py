"""The rich consoles the commands print with, all made here: `make_console`.

rich's own Console, finding its reader gone (`meshproof compare A B | head -3`), exits
with 1, which is meshproof's "an SLO failed" (harness.exits): a CI script would read a
pipe closed early as a failed comparison. The console made here raises BrokenPipeError
instead, which `harness.cli.main` turns into exits.BROKEN_PIPE (141), as it does for a
plain `print`. An ordinary exception, not SystemExit: a run it interrupts still rolls
its faults back and writes its run.json on the way out.

Imported by the command handlers only (it imports rich), never by a command's parser.
"""

from __future__ import annotations

import errno

from rich.console import Console


class PipeAwareConsole(Console):
    """A Console whose reader leaving raises BrokenPipeError (harness.cli.main: 141)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more is written: the rest of the output goes nowhere
        raise BrokenPipeError(errno.EPIPE, "the reader of meshproof's output left")


def make_console(
    *, stderr: bool = False, highlight: bool = False, soft_wrap: bool = True
) -> Console:
    """A console on stdout (or stderr) for a command's output: no highlighting of numbers
    and words, long lines kept whole (a pipe or a log reader wraps them) unless asked."""
    return PipeAwareConsole(stderr=stderr, highlight=highlight, soft_wrap=soft_wrap)
