"""The protocols benchmark's pure parts: the HTTP/2 batch's waits, the section choice."""

from __future__ import annotations

import pytest

from harness.bench.protocols import H2_SLOWEST_MS, H2_STREAMS, h2_waits_ms, main


def test_one_stream_waits_longest_and_the_rest_are_quick() -> None:
    """100 streams: one asks for the slowest wait, the others 0-45 ms, so a stream held
    behind the slow one would end hundreds of ms late."""
    waits = h2_waits_ms()
    assert len(waits) == H2_STREAMS
    assert max(waits) == H2_SLOWEST_MS and waits.count(H2_SLOWEST_MS) == 1
    assert max(w for w in waits if w != H2_SLOWEST_MS) <= 45


def test_an_unknown_section_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--only", "grpc,quic"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'quic'" in err and "grpc, tcp, h2" in err
