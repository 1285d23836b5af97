"""`meshproof`: one command, a sub-command per job.

Each sub-command lives in its own module exposing `register(subparsers)`; the parser
built there sets `func`, called with the parsed arguments and returning an exit code.
Errors from meshproof's exception tree become one line on stderr and an exit code, both
decided here (`exit_code_of_error`, the one mapping from an error to a code; the codes'
meanings are in harness.exits); nothing else a user does should end in a traceback.

Building the parser imports every command module, so a command module imports at its
top only what its parser needs (argparse, pathlib, the exception tree); what a command
needs to run (pydantic models, rich, pandas, scipy, the runtimes, the engine) is imported
inside its handler. `meshproof --help` and `validate` then start in a fraction of a
second instead of loading the whole harness (tests/unit/cli/test_cli_startup.py).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from harness import exits
from mesh_runtime import __version__
from mesh_runtime.errors import MeshproofError

COMMAND_MODULES = (
    "harness.cli.deploy",  # up, down, status
    "harness.cli.recover",
    "harness.cli.inspect",  # validate, list, report
    "harness.cli.run",  # run, demo
    "harness.cli.dashboard",
    "harness.cli.images",  # images build
    "harness.cli.compose",  # compose render
    "harness.cli.k8s",  # k8s render
    "harness.cli.compare",  # compare, validate-upgrade
    "harness.cli.gate",
    "harness.cli.calibrate",
    "harness.cli.target",  # target check
    "harness.cli.loadworker",  # load-worker
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshproof",
        description="Observability and chaos-testing harness for service meshes.",
    )
    parser.add_argument("--version", action="version", version=f"meshproof {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def exit_code_of_error(exc: MeshproofError | KeyboardInterrupt) -> int:
    """The exit code a command ends with when `exc` stops it: every error meshproof
    reports (the mesh's and the harness's trees alike: bad input, a part that would not
    deploy, a run that could not be done) is NOT_DONE (2); Ctrl-C is INTERRUPTED (130)."""
    if isinstance(exc, KeyboardInterrupt):
        return exits.INTERRUPTED
    return exits.NOT_DONE


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _dispatch(argv)
        sys.stdout.flush()  # a reader that left shows here, not in Python's flush at exit
    except BrokenPipeError:
        # `meshproof list --json | head`: stop quietly, as a command SIGPIPE stops; stdout
        # goes to /dev/null so that the interpreter's last flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exits.BROKEN_PIPE
    return code


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return exits.NOT_DONE
    try:
        return int(args.func(args))
    except MeshproofError as exc:
        print(f"meshproof: {exc}", file=sys.stderr)
        return exit_code_of_error(exc)
    except KeyboardInterrupt as exc:
        print("meshproof: interrupted", file=sys.stderr)
        return exit_code_of_error(exc)


if __name__ == "__main__":
    sys.exit(main())
