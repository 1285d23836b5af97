"""Every sub-command's --help describes that command (harness.cli.main's parser)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from harness.cli.commands import command_help
from harness.cli.main import build_parser


def commands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every sub-command and action ('images build'), by its full name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + name, sub
                yield from commands(sub, f"{prefix}{name} ")


ALL = dict(commands(build_parser()))


def related(one: str, other: str) -> bool:
    """A command and its own actions (or the command of an action) may name each other."""
    return one == other or one.startswith(other + " ") or other.startswith(one + " ")


def test_the_walk_finds_every_command() -> None:
    """The walk sees the top-level commands and the actions below them."""
    assert {"run", "demo", "compare", "validate-upgrade", "gate", "list", "report"} <= set(ALL)
    assert {"images build", "compose render"} <= set(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_help_describes_its_own_command(name: str) -> None:
    """The description is there, opens without naming another command, and is no other
    command's description."""
    description = (ALL[name].description or "").strip()
    assert len(description) > 40, f"{name}: no description"
    opening = description.split("\n\n")[0]
    for other in ALL:
        if not related(name, other):
            assert not re.search(rf"`meshproof {re.escape(other)}(?![\w-])", opening), (
                f"{name}'s help opens with another command: {opening!r}"
            )
    twins = [o for o in ALL if o != name and (ALL[o].description or "").strip() == description]
    assert not twins, f"{name} shares its help with {twins}"


def test_command_help_takes_the_row_and_the_shared_paragraphs() -> None:
    """A module docstring of two commands gives each its row, then the common paragraphs."""
    doc = """`meshproof a` and `meshproof bb`.

    a   does a thing
        over two lines.
    bb  does another.

    Both write files.
    """
    assert command_help(doc, "a") == "Does a thing over two lines.\n\nBoth write files.\n"
    assert command_help(doc, "bb") == "Does another.\n\nBoth write files.\n"
