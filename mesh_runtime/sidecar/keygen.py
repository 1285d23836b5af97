"""The workload key and its CSR, made in a short-lived child process.

    python -m mesh_runtime.sidecar.keygen SERVICE    (prints the key's PEM, then the CSR's)

`cryptography` is what makes an EC key and signs a CSR, and once imported it stays
resident for the life of the process (8 MB of the sidecar's ~55). A sidecar needs it
only at start-up and at each renewal (half a certificate's lifetime), so it runs this
module as a child for that and never loads `cryptography` itself. The key travels over
the child's stdout pipe, never through a file.

The child runs `KEYGEN_NICENESS` steps nicer than its sidecar: its ~0.1 s of CPU (a
Python start, `cryptography`'s import, the key) gives way to the data path on a busy
host. The child's side imports no asyncio (about half the child's start-up time).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING

from mesh_runtime.errors import ControlPlaneError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

CSR_BEGIN = b"-----BEGIN CERTIFICATE REQUEST-----"
KEYGEN_TIMEOUT_S = 30.0
KEYGEN_NICENESS = 5
"""How much nicer than its sidecar the child runs (capped at 19, the nicest)."""


def make_csr(key: ec.EllipticCurvePrivateKey, service: str) -> bytes:
    """A CSR for `key`; the CA puts the identity in, so the subject is only informative."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, service)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def key_and_csr(service: str) -> tuple[bytes, bytes]:
    """A new EC P-256 key (PKCS#8 PEM) and a CSR for it (PEM), in this process."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, make_csr(key, service)


def split_output(output: bytes) -> tuple[bytes, bytes]:
    """(key PEM, CSR PEM) from the child's stdout; ValueError when it is not that."""
    at = output.find(CSR_BEGIN)
    key, csr = output[:at], output[at:]
    if at <= 0 or b"PRIVATE KEY-----" not in key or not csr.rstrip().endswith(b"-----"):
        raise ValueError("no key and CSR in the key generator's output")
    return key, csr


def child_niceness(parent: int, increment: int = KEYGEN_NICENESS) -> int:
    """The child's nice value: `increment` above its parent's, 19 at most (never below the
    parent's: a sidecar run nicer than 19 - increment keeps its own)."""
    return max(parent, min(19, parent + increment))


def lower_priority(pid: int) -> None:
    """Make process `pid` `KEYGEN_NICENESS` nicer than this one (nothing if it is gone)."""
    with contextlib.suppress(OSError):
        niceness = child_niceness(os.getpriority(os.PRIO_PROCESS, 0))
        os.setpriority(os.PRIO_PROCESS, pid, niceness)


async def key_and_csr_in_child(
    service: str, timeout_s: float = KEYGEN_TIMEOUT_S
) -> tuple[bytes, bytes]:
    """`key_and_csr(service)` run by a child process at a lower priority; ControlPlaneError
    if it fails."""
    import asyncio  # here, not at the top: the child imports this module and needs none

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mesh_runtime.sidecar.keygen",
        service,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    lower_priority(child.pid)
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await child.communicate()
    except BaseException:
        if child.returncode is None:
            child.kill()
            await child.wait()
        raise
    if child.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or [
            f"exit {child.returncode}"
        ]
        raise ControlPlaneError(f"cannot make a workload key: {last[0]}")
    try:
        return split_output(out)
    except ValueError as exc:
        raise ControlPlaneError(f"cannot make a workload key: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0]:
        print("usage: python -m mesh_runtime.sidecar.keygen SERVICE", file=sys.stderr)
        return 2
    key, csr = key_and_csr(args[0])
    sys.stdout.buffer.write(key + csr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
