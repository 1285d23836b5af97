"""Bad input to any command is one stderr line and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.main import main

BINARY = b"\xb0\xff\x00\x9c binary, not YAML"


@pytest.fixture
def binary_file(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(BINARY)
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["validate", "{file}"],
        ["compose", "render", "{file}", "--out", "{tmp}/shop.compose.yaml"],
        ["target", "check", "{file}"],
        ["compare", "a", "b", "--config", "{file}"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_a_binary_file_is_one_line_naming_it(
    tmp_path: Path, binary_file: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """A file that is not UTF-8 text, wherever a file is read: exit 2, one line naming it."""
    argv = [arg.format(file=binary_file, tmp=tmp_path) for arg in command]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"meshproof: {binary_file}: not UTF-8 text (byte 0xb0 at offset 0); a binary file?\n"
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--alpha", "0"], "--alpha: expected a level between 0 and 1, got 0.0"),
        (["--alpha", "1.5"], "--alpha: expected a level between 0 and 1, got 1.5"),
        (["--alpha", "nan"], "--alpha: expected a level between 0 and 1, got nan"),
        (["--min-history", "-1"], "--min-history: expected a number of runs >= 0, got -1"),
        (["--window", "0"], "--window: expected a number of runs >= 1, got 0"),
        (["--max-history", "-2"], "--max-history: expected a number of runs >= 1, got -2"),
        (["--history", "{tmp}/nope"], "--history: no such folder: {tmp}/nope"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else "",
)
def test_gate_refuses_options_that_would_gate_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], expected: str
) -> None:
    """An option value the gate cannot judge with (or a --history folder that is not
    there, which would pass every run unjudged) is one line and exit 2, before any run is
    read."""
    argv = ["gate", "latest", "--reports", str(tmp_path), *options]
    assert main([arg.format(tmp=tmp_path) for arg in argv]) == 2
    assert capsys.readouterr().err == f"meshproof: {expected.format(tmp=tmp_path)}\n"


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf"])
def test_target_check_refuses_a_timeout_the_http_client_cannot_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], timeout: str
) -> None:
    """--timeout must be a finite number of seconds above 0: a usage error, exit 2."""
    with pytest.raises(SystemExit) as exc:
        main(["target", "check", str(tmp_path / "target.yaml"), f"--timeout={timeout}"])
    assert exc.value.code == 2
    assert f"argument --timeout: expected a finite number of seconds above 0, got '{timeout}'" in (
        capsys.readouterr().err
    )
