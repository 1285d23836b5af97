"""`load-worker --master` and `run --load-master-bind`: bad addresses are one line, exit 2."""

from __future__ import annotations

import pytest

from harness.cli.main import main


@pytest.mark.parametrize(
    "argv",
    [
        ["load-worker", "--master", "somehost"],
        ["load-worker", "--master", "somehost:70000"],
        ["run", "experiments/baseline.yaml", "--load-master-bind", "10.0.0.1:port"],
        ["run", "experiments/baseline.yaml", "--load-local-workers", "-1"],
    ],
)
def test_a_bad_master_address_is_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("meshproof: --"), err
