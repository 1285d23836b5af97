"""The load driver's HTTP client on a keep-alive connection its server closes under it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROBE = Path(__file__).with_name("stale_probe.py")
REPO = Path(__file__).resolve().parents[3]


def test_get_on_a_connection_closed_before_any_answer_is_retried_once_and_counted(
    closing_server: int,
) -> None:
    """Each GET after the first meets a closed reused connection: it is sent once more on a
    new one and answers 200, one stale retry each; a POST is not retried (not idempotent)."""
    result = subprocess.run(
        [sys.executable, str(PROBE), str(closing_server), "5"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outcomes"][:5] == [200] * 5
    assert report["outcomes"][5] != 200
    assert report["stale_retries"] == 4
