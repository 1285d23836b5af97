"""Port allocation keeps out of the ephemeral range that client connections use."""

import random
import socket
from pathlib import Path

import pytest

from mesh_runtime.runtimes import ports as ports_module
from mesh_runtime.runtimes.ports import (
    HandedOut,
    candidate_ports,
    ephemeral_low,
    fresh_port,
    port_allocator,
)


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


def test_fresh_ports_are_never_handed_out_twice() -> None:
    """One port at a time, 300 times: 300 ports, each free when handed out. bind(0) one at
    a time gives a just-released port again (a 9-port mesh in ~360 got one twice)."""
    handed = [fresh_port() for _ in range(300)]
    assert len(set(handed)) == 300
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", handed[-1]))


def test_two_allocator_blocks_never_share_a_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ports of one block are released when it ends, before the processes given them bind
    them: the next block must still not pick one of them. With the range shrunk to 100
    ports, 60 a block, two blocks drawing at random would share some."""
    low = ports_module.LOWEST_PORT
    monkeypatch.setattr(ports_module, "ephemeral_low", lambda: low + 100)
    with port_allocator() as allocate:
        first = {allocate() for _ in range(60)}
    with port_allocator() as allocate:
        second = {allocate() for _ in range(60)}
    assert len(first) == len(second) == 60
    assert not first & second


def test_allocation_skips_ports_handed_out_even_when_the_range_is_only_those(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the below-ephemeral range shrunk to 100 ports, all handed out already,
    allocation falls back to bind(0) and still returns none of them."""
    low = ports_module.LOWEST_PORT
    monkeypatch.setattr(ports_module, "ephemeral_low", lambda: low + 100)
    handed_out = HandedOut()
    for port in range(low, low + 100):
        handed_out.add(port)
    with port_allocator(handed_out=handed_out) as allocate:
        got = [allocate() for _ in range(5)]
    assert not set(range(low, low + 100)) & set(got)
    assert len(set(got)) == 5


def test_only_the_last_ports_handed_out_are_remembered() -> None:
    """The memory is bounded: the oldest port is forgotten once `size` newer ones came."""
    handed_out = HandedOut(size=3)
    for port in (1, 2, 3, 4):
        handed_out.add(port)
    assert 1 not in handed_out
    assert all(port in handed_out for port in (2, 3, 4))
