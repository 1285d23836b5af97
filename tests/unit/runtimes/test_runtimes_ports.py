"""Port allocation keeps out of the ephemeral range that client connections use."""

import random
import socket
from pathlib import Path

from mesh_runtime.runtimes.ports import candidate_ports, ephemeral_low, port_allocator


def test_ephemeral_low_reads_the_kernel_range(tmp_path: Path) -> None:
    """The range file's first number is the start of the ephemeral range."""
    path = tmp_path / "range"
    path.write_text("40000\t60999\n")
    assert ephemeral_low(path) == 40000
    assert ephemeral_low(tmp_path / "absent") == 32768


def test_candidates_stay_below_the_ephemeral_range() -> None:
    """Every candidate port lies in [low, ephemeral)."""
    ports = list(candidate_ports(random.Random(1), 20000, 32768))
    assert ports and all(20000 <= p < 32768 for p in ports)
    assert list(candidate_ports(random.Random(1), 20000, 20050)) == []


def test_allocated_ports_are_distinct_and_bindable_after() -> None:
    """Ports allocated in one block differ, and are free again once the block ends."""
    with port_allocator() as allocate:
        ports = [allocate() for _ in range(20)]
    assert len(set(ports)) == 20
    assert all(p < ephemeral_low() for p in ports)
    for port in ports[:3]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
