"""`make bench`'s trace sink section: this tree's sink beside the session-13 sink, and
their spans files compared byte for byte (it failed `make bench` when they differed)."""

from __future__ import annotations

import pytest

from harness.bench import tracesink

pytestmark = pytest.mark.integration


def test_the_sections_sinks_write_the_same_spans_file(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--baseline", tracesink.SESSION_13_BEFORE, "--rounds", "2", "--exports", "5"]
    assert tracesink.main(argv) == 0
    out = capsys.readouterr().out
    assert "spans files after the same exports (+300 random ones): identical" in out
