"""The mesh's certificate authority: a self-signed root, short-lived SPIFFE leaf certificates.

Istio's istiod does the same job: a sidecar sends a CSR for a key it made itself, with a
credential that proves which workload it is (Istio: the service account's JWT; here a
per-service bootstrap credential, checked by the API), and gets back a leaf certificate whose
only identity is a URI SAN `spiffe://<trustDomain>/ns/default/sa/<service>`. The CA takes
the identity from the authenticated claim, never from the CSR's subject or extensions.

Pure apart from `load_or_create`, which keeps the root in a directory (key file 0600) so a
restarted control plane keeps signing under the same root. Time comes from a clock.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mesh_runtime.errors import DeployError, InvalidInput

ROOT_LIFETIME_S = 10 * 365 * 86400
DEFAULT_LEAF_LIFETIME_S = 3600.0
BACKDATE_S = 60.0
"""Leaf certificates start a minute early, so small clock skew does not reject them."""
ROOT_CERT = "root-cert.pem"
ROOT_KEY = "root-key.pem"

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: bytes
    """The leaf, PEM."""
    root: bytes
    """The root that signed it, PEM (the trust anchor for every peer)."""
    spiffe_id: str
    serial: int
    not_after: float
    """Expiry, seconds since the epoch."""


class CertificateAuthority:
    def __init__(
        self,
        key: SigningKey,
        cert: x509.Certificate,
        clock: Callable[[], float] = time.time,
        leaf_lifetime_s: float = DEFAULT_LEAF_LIFETIME_S,
    ) -> None:
        self._key = key
        self.root = cert
        self._clock = clock
        self.leaf_lifetime_s = leaf_lifetime_s

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def create(
        cls,
        name: str = "meshproof",
        clock: Callable[[], float] = time.time,
        leaf_lifetime_s: float = DEFAULT_LEAF_LIFETIME_S,
    ) -> CertificateAuthority:
        """A new self-signed root (EC P-256, ten years)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} mesh root CA"),
            ]
        )
        now = _utc(clock())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(seconds=BACKDATE_S))
            .not_valid_after(now + dt.timedelta(seconds=ROOT_LIFETIME_S))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert, clock, leaf_lifetime_s)

    @classmethod
    def load_or_create(
        cls,
        directory: Path,
        clock: Callable[[], float] = time.time,
        leaf_lifetime_s: float = DEFAULT_LEAF_LIFETIME_S,
    ) -> CertificateAuthority:
        """The root kept in `directory`, made (and saved) on first use."""
        cert_file, key_file = directory / ROOT_CERT, directory / ROOT_KEY
        try:
            if cert_file.exists() and key_file.exists():
                key = serialization.load_pem_private_key(key_file.read_bytes(), None)
                cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
                if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                    raise InvalidInput(str(key_file), "", "expected an EC or RSA private key")
                return cls(key, cert, clock, leaf_lifetime_s)
            ca = cls.create(clock=clock, leaf_lifetime_s=leaf_lifetime_s)
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            _write(key_file, ca._private_pem(), 0o600)
            _write(cert_file, ca.root_pem, 0o644)
            return ca
        except OSError as exc:
            raise DeployError(f"CA directory {directory}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise InvalidInput(str(directory), "", f"unreadable CA root: {exc}") from None

    def sign(
        self,
        csr_pem: bytes,
        spiffe_id: str,
        *,
        lifetime_s: float | None = None,
        now: float | None = None,
    ) -> IssuedCertificate:
        """A leaf for the CSR's key whose only identity is `spiffe_id`."""
        csr = load_csr(csr_pem)
        issued = self._clock() if now is None else now
        lifetime = self.leaf_lifetime_s if lifetime_s is None else lifetime_s
        start, end = _utc(issued - BACKDATE_S), _utc(issued + lifetime)
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "meshproof")]))
            .issuer_name(self.root.subject)
            .public_key(csr.public_key())  # type: ignore[arg-type]  # checked in load_csr
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self._key.public_key()  # type: ignore[arg-type]
                ),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        return IssuedCertificate(pem, self.root_pem, spiffe_id, serial, end.timestamp())

    def root_files(self) -> dict[str, str]:
        """The root as `load_or_create` reads it back: file name -> PEM text (the key too:
        whoever stores these, e.g. the kubernetes runtime's Secret, must guard them)."""
        return {ROOT_CERT: self.root_pem.decode(), ROOT_KEY: self._private_pem().decode()}

    def _private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def load_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    """A CSR whose signature proves possession of its key; anything else is InvalidInput."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise InvalidInput("body", "csr", "not a PEM certificate signing request") from None
    try:
        key = csr.public_key()
        valid = csr.is_signature_valid
    except (InvalidSignature, ValueError):
        raise InvalidInput("body", "csr", "the CSR's key or signature is malformed") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise InvalidInput("body", "csr", "expected an EC or RSA key")
    if not valid:
        raise InvalidInput("body", "csr", "the CSR's signature does not verify")
    return csr


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _utc(epoch_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC)


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
