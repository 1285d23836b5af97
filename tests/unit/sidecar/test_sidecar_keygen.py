"""The workload key and CSR made by a child process, so the sidecar never loads cryptography."""

from __future__ import annotations

import asyncio

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
