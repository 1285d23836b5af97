"""How a sub-command's parser is made: its module's docstring is its `--help` text, as written.

Each command module's `register(subparsers)` calls `add_command` once per sub-command
(and again on the sub-commands of a command with actions, `images build`).
"""

from __future__ import annotations

import argparse
from typing import Any

from mesh_runtime.errors import InvalidInput

RUNTIMES = ("local", "docker")
"""The names `--runtime` takes: `mesh_runtime.runtimes.registry.RUNTIMES`, spelled here so
that building the parser imports no runtime (a unit test keeps the two the same)."""


def add_command(
    subparsers: Any, name: str, summary: str, doc: str | None
) -> argparse.ArgumentParser:
    """The parser of sub-command `name`: `summary` in the command list, `doc` in its --help."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=summary,
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def duration_seconds(text: str | None, option: str = "--duration") -> float | None:
    """A duration option's value ('30s', '2m') in seconds; None when not given."""
    from mesh_runtime.units import parse_duration  # pydantic: only when the option is given

    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(option, "", str(exc)) from None
