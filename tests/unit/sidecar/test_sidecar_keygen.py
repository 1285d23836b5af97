"""The workload key and CSR made by a child process, so the sidecar never loads cryptography."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mesh_runtime.errors import ControlPlaneError
from mesh_runtime.sidecar import keygen


def test_the_child_makes_a_key_and_a_csr_for_it() -> None:
    """The child's key is a P-256 private key and the CSR is signed by it, for the service."""
    key_pem, csr_pem = asyncio.run(keygen.key_and_csr_in_child("catalog"))
    key = serialization.load_pem_private_key(key_pem, None)
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.is_signature_valid and key.key_size == 256
    assert csr.public_key() == key.public_key()
    assert "catalog" in csr.subject.rfc4514_string()


@pytest.mark.parametrize("output", [b"", b"garbage", keygen.CSR_BEGIN + b"\n-----END x-----\n"])
def test_output_without_a_key_and_a_csr_is_refused(output: bytes) -> None:
    """Anything but a key's PEM followed by a CSR's is a ValueError, not half a credential."""
    with pytest.raises(ValueError, match="no key and CSR"):
        keygen.split_output(output)


def test_a_failing_child_is_a_control_plane_error() -> None:
    """A child that exits non-zero (here: no service named) is one ControlPlaneError, which
    the identity keeper retries with backoff."""
    with pytest.raises(ControlPlaneError, match="cannot make a workload key: usage"):
        asyncio.run(keygen.key_and_csr_in_child(""))


def test_the_child_runs_nicer_than_its_sidecar() -> None:
    """KEYGEN_NICENESS above the parent's nice value, capped at 19 and never below the
    parent's own."""
    assert keygen.child_niceness(0) == keygen.KEYGEN_NICENESS
    assert keygen.child_niceness(5, 10) == 15
    assert keygen.child_niceness(5, 5) == 10
    assert keygen.child_niceness(15, 10) == 19
    assert keygen.child_niceness(19, 10) == 19


def test_lower_priority_sets_a_running_child_s_niceness() -> None:
    """A real child process gets the niceness child_niceness gives for this process; a
    child gone already is no error."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        keygen.lower_priority(child.pid)
        own = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == keygen.child_niceness(own)
    finally:
        child.communicate(b"")
    keygen.lower_priority(child.pid)  # reaped: ESRCH, suppressed


def test_the_child_side_imports_no_asyncio() -> None:
    """`python -m mesh_runtime.sidecar.keygen` loads neither asyncio nor the sidecar's
    modules (asyncio's import was about half the child's start-up)."""
    probe = (
        "import sys;"
        " import mesh_runtime.sidecar.keygen as k; k.key_and_csr('a');"
        " print(sorted(m for m in sys.modules if m == 'asyncio' or m.startswith('mesh_runtime')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert (
        out.stdout.strip()
        == "['mesh_runtime', 'mesh_runtime.errors', 'mesh_runtime.sidecar', 'mesh_runtime.sidecar.keygen']"
    )
