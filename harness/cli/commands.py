"""How a sub-command's parser is made: its description is its `--help` text, as written.

Each command module's `register(subparsers)` calls `add_command` once per sub-command
(and again on the sub-commands of a command with actions, `images build`). A module of
one command passes its docstring; a module of several gives each its own text (its own
constant, or `command_help` picking the command's row out of the docstring), so that
every command's help describes that command (tests/unit/cli/test_cli_help.py).
"""

from __future__ import annotations

import argparse
import inspect
import pathlib
import re
import textwrap
from typing import Any

from mesh_runtime.errors import InvalidInput

RUNTIMES = ("local", "docker", "kubernetes")
"""The names `--runtime` takes: `mesh_runtime.runtimes.registry.RUNTIMES`, spelled here so
that building the parser imports no runtime (a unit test keeps the two the same)."""
RUN_RUNTIMES = ("local", "docker", "kubernetes")
"""The runtimes `run` carries an experiment out on (kubernetes with --kubeconfig, from a
machine where kube-proxy runs: the handle's URLs are ClusterIPs)."""
CALIBRATE_RUNTIMES = ("local", "docker")
"""`calibrate`'s: it measures this machine's processes or containers."""


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


def command_help(doc: str, name: str) -> str:
    """The --help text of sub-command `name` from the docstring of a module that holds
    several, written as a table (`name  what it does`, continuation lines indented): that
    row as the opening paragraph, then every paragraph after the table (said of them all).
    The docstring's first paragraph (which commands the module holds) is left out."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    row = re.compile(rf"^{re.escape(name)} {{2,}}(\S.*)$")
    for index, paragraph in enumerate(paragraphs):
        lines = paragraph.splitlines()
        start = next((i for i, line in enumerate(lines) if row.match(line)), None)
        if start is None:
            continue
        match = row.match(lines[start])
        assert match is not None
        words = [match.group(1)]
        for line in lines[start + 1 :]:
            if not line.startswith(" "):
                break
            words.append(line.strip())
        text = " ".join(words)
        opening = textwrap.fill(text[:1].upper() + text[1:], width=88)
        return "\n\n".join([opening, *paragraphs[index + 1 :]]) + "\n"
    raise ValueError(f"no row for {name!r} in the docstring")


def add_calibration_options(parser: argparse.ArgumentParser, default: str) -> None:
    """`--calibration FILE` / `--no-calibration` (compare, validate-upgrade, gate);
    `default` says where the calibration is looked for when neither is given."""
    calibration = parser.add_mutually_exclusive_group()
    calibration.add_argument(
        "--calibration",
        type=pathlib.Path,
        default=None,
        metavar="FILE",
        help=f"tolerances from this calibration (default: {default}, when it exists)",
    )
    calibration.add_argument(
        "--no-calibration", action="store_true", help="built-in tolerances even if calibrated"
    )


def duration_seconds(text: str | None, option: str = "--duration") -> float | None:
    """A duration option's value ('30s', '2m') in seconds; None when not given."""
    from mesh_runtime.units import parse_duration  # pydantic: only when the option is given

    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(option, "", str(exc)) from None
