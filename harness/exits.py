"""meshproof's exit codes: one meaning per number, whichever command ends.

A run, a comparison and a gate turn their result into one where each is judged
(harness.judge.exit_code, harness.cli.compare.exit_code_of, GateResult.exit_code); an
error becomes one in one place, the CLI's (harness.cli.main.exit_code_of_error).
"""

PASSED = 0
"""Every SLO held; the comparison or the gate passed."""

FAILED = 1
"""An SLO failed; the comparison or the gate failed."""

NOT_DONE = 2
"""Bad input (a file, an argument), or the run could not be done: nothing was judged."""

INCONCLUSIVE = 3
"""Nothing failed, but the host was too noisy to judge at least one thing."""

INTERRUPTED = 130
"""The user stopped meshproof (Ctrl-C); 128 + SIGINT, as a shell reports it."""

BROKEN_PIPE = 141
"""stdout's reader left before meshproof finished writing (`meshproof list --json | head`);
128 + SIGPIPE, as a shell reports a command SIGPIPE stopped."""
