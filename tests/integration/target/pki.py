"""A small PKI for the external-target tests: a CA, a server certificate for a DNS name
and a client certificate, as PEM files (made with `cryptography`)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(
    folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _cert(
    subject: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    dns: str | None = None,
) -> x509.Certificate:
    """A certificate for `subject`'s `key`, signed by the CA 'test-ca' (`issuer_key`)."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name("test-ca"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns:
        names = [x509.DNSName(dns), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(tmp_path: Path, host: str) -> dict[str, Path]:
    """A CA, a server certificate for `host` (and 127.0.0.1) and a client certificate."""
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    files: dict[str, Path] = {}
    files["ca"], _ = _write(tmp_path, "ca", _cert("test-ca", ca_key, ca_key, ca=True), ca_key)
    server = _cert(host, ca_key, server_key, dns=host)
    files["server"], files["server_key"] = _write(tmp_path, "server", server, server_key)
    client = _cert("load-driver", ca_key, client_key)
    files["client"], files["client_key"] = _write(tmp_path, "client", client, client_key)
    return files
