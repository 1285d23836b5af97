"""The gRPC bench with a baseline revision: that revision's mTLS pair is measured in the
same interleaved run, under its own role names."""

from __future__ import annotations

import re

import pytest

from harness.bench.protocols import main

pytestmark = pytest.mark.integration


def test_a_baseline_revisions_grpc_pair_runs_beside_this_trees(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--only", "grpc", "--baseline", "HEAD", "--rps", "100", "--seconds", "1"]
    assert main([*argv, "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    rows = dict(re.findall(r"^  (mesh-mtls(?:-base)?) .* (\d+)$", out, re.MULTILINE))
    assert rows == {"mesh-mtls": "0", "mesh-mtls-base": "0"}  # every call answered, both
    assert "sidecar request path: this tree" in out
    assert re.search(r"^mtls-base-sidecar-server CPU: \d+\.\d+ cores", out, re.MULTILINE)
    assert "baseline sidecar pair with mTLS resident memory" in out


def test_an_unknown_baseline_revision_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--only", "grpc", "--baseline", "no-such-revision", "--rounds", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("protocols benchmark: error: cannot read revision")
