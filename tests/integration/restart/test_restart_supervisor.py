"""Supervisor.hot_restart with a program that cannot share its port: the old one stays."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh_runtime.runtimes.plan import ProcessSpec
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.runtimes.supervisor import Supervisor

pytestmark = pytest.mark.integration


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[Supervisor]:
    sup = Supervisor(tmp_path / "logs")
    try:
        yield sup
    finally:
        sup.stop_strays(grace=2)


def plain_server(tmp_path: Path) -> ProcessSpec:
    """`python -m http.server`: listens without SO_REUSEPORT; /_health is a file it serves."""
    (tmp_path / "_health").write_text("ok\n")
    port = fresh_port()
    server = (sys.executable, "-m", "http.server", "--bind", "127.0.0.1")
    command = (*server, "--directory", str(tmp_path), str(port))
    return ProcessSpec("plain", "service", command, {"port": port})


def test_hot_restart_of_a_program_that_cannot_share_its_port_leaves_the_old_one(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    """The copy fails to bind and exits: hot_restart says None and the old process still serves."""
    spec = plain_server(tmp_path)
    (old,) = supervisor.start_and_wait([spec], timeout=20)
    assert supervisor.hot_restart(old, grace=2, timeout=20) is None
    assert supervisor.alive(old)
    new = supervisor.restart(old, grace=2, timeout=20)
    assert new.pid != old.pid and supervisor.alive(new) and not supervisor.alive(old)
