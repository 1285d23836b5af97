"""Fixtures of the hot-restart tests (helpers live in restart_helpers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import restart_helpers


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[restart_helpers.Processes]:
    processes = restart_helpers.Processes(tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
def closing_server() -> Iterator[int]:
    """A server that closes every connection, unanswered, on its second request."""
    with restart_helpers.closing_server() as port:
        yield port
