"""Fixtures for the load driver's integration tests: a target server with known latencies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from loadtest_support import Targets


@pytest.fixture
def targets(tmp_path: Path) -> Iterator[Targets]:
    """Target servers started by the test; their processes are killed afterwards."""
    servers = Targets(tmp_path)
    yield servers
    servers.close()
