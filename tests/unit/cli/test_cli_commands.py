"""The pieces every sub-command shares (harness.cli.commands)."""

from __future__ import annotations

import argparse

import pytest

from harness.cli.commands import add_command, duration_seconds
from mesh_runtime.errors import InvalidInput


def test_duration_seconds_reads_units_and_passes_none_through() -> None:
    """'2m' is 120 s, '250ms' 0.25 s; an option not given stays None."""
    assert duration_seconds("2m") == 120.0
    assert duration_seconds("250ms") == 0.25
    assert duration_seconds(None) is None


def test_a_bad_duration_is_invalid_input_naming_the_option() -> None:
    """A value that is no duration is one InvalidInput naming the option and the value."""
    with pytest.raises(InvalidInput, match=r"--window: .*got '3x'"):
        duration_seconds("3x", "--window")


def test_add_command_keeps_the_module_docstring_as_written() -> None:
    """The sub-command's --help shows its docstring's line breaks unchanged."""
    parser = argparse.ArgumentParser(prog="meshproof")
    doc = "`meshproof x`: one line.\n\ncolumn  a\ncolumn  b\n"
    command = add_command(parser.add_subparsers(), "x", "do x", doc)
    assert "column  a\ncolumn  b" in command.format_help()
