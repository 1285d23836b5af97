"""A real `meshproof run` keeps the deployment's secrets out of its run directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mesh_runtime.runtimes.plan import PlanFiles
from tests.conftest import run_group

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
RUN_TIMEOUT_S = 240


def test_no_deployment_secret_is_in_a_run_directory(tmp_path: Path) -> None:
    """After a short baseline run, neither the admin token, the control token, the
    bootstrap secret nor any credential is in run.json, report.md, junit.xml, the Parquet
    tables or the harness's output; run.json names no token file's content either."""
    out, state = tmp_path / "reports", tmp_path / "state"
    command = [sys.executable, "-m", "harness.cli.main", "run"]
    command += [str(REPO / "experiments" / "baseline.yaml"), "--duration", "6s", "--quiet"]
    command += ["--out", str(out), "--state-dir", str(state)]
    done = run_group(command, RUN_TIMEOUT_S, cwd=tmp_path)
    runs = [p for p in out.iterdir() if p.is_dir()] if out.exists() else []
    assert len(runs) == 1, done.stdout + done.stderr
    record = json.loads((runs[0] / "run.json").read_text())
    assert record["status"] in ("passed", "failed", "inconclusive"), done.stdout + done.stderr
    written = {p.name for p in runs[0].iterdir()}
    assert {"run.json", "report.md", "junit.xml", "requests.parquet"} <= written
    files = PlanFiles(state / "work" / "shop")
    secret_files = [files.admin_token, files.control_token, files.bootstrap_secret]
    secret_files += sorted(files.credentials.iterdir())
    for path in secret_files:
        secret = path.read_text().strip().encode()
        assert len(secret) >= 20, path
        leaks = [p for p in runs[0].rglob("*") if p.is_file() and secret in p.read_bytes()]
        assert not leaks, f"{path.name}'s secret is in {leaks}"
        assert secret not in (done.stdout + done.stderr).encode(), path.name
