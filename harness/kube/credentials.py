"""The credentials of a local cluster (harness.kube.testing, harness.kube.localnode): the
users of the API server's static token file, the kubeconfig naming them, the key pair it
signs service-account tokens with, and the CA and client certificate its node proxy uses
to reach the kubelet. Files only: nothing here starts a process."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class User:
    """A user of the static token file; `groups` decide what RBAC lets it do."""

    name: str
    groups: tuple[str, ...] = ()
    token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)


def token_file_rows(users: Sequence[User]) -> list[list[str]]:
    """`--token-auth-file` rows: token, user name, uid, comma-separated groups."""
    return [[u.token, u.name, u.name, ",".join(u.groups)] for u in users]


def kubeconfig_document(server: str, ca_file: Path, users: Sequence[User]) -> dict[str, object]:
    """A kubeconfig with one context per user, named after it; the first one is current."""
    cluster = "meshproof-local"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": u.name, "user": {"token": u.token}} for u in users],
        "contexts": [
            {"name": u.name, "context": {"cluster": cluster, "user": u.name}} for u in users
        ],
        "current-context": users[0].name,
        "preferences": {},
    }


def write_service_account_keys(private: Path, public: Path) -> None:
    """An RSA key pair the API server signs and verifies service-account tokens with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@dataclass(frozen=True)
class KubeletClientPki:
    """The CA the kubelet trusts for client certificates (`authentication.x509.clientCAFile`)
    and the API server's client certificate signed by it (`--kubelet-client-certificate`),
    so the API server's node proxy (`/api/v1/nodes/NODE/proxy/...`) is authenticated."""

    ca: Path
    cert: Path
    key: Path

    def apiserver_args(self) -> tuple[str, ...]:
        return (
            f"--kubelet-client-certificate={self.cert}",
            f"--kubelet-client-key={self.key}",
            "--kubelet-preferred-address-types=InternalIP",  # the node's name resolves nowhere
        )


def write_kubelet_client_pki(folder: Path) -> KubeletClientPki:
    """A CA and the API server's client certificate (CN kube-apiserver) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    ca_name, now = _cn("meshproof-kubelet-client-ca"), datetime.datetime.now(datetime.UTC)

    def signed(subject: x509.Name, public: ec.EllipticCurvePublicKey, ca: bool) -> bytes:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
            builder = builder.add_extension(usage, critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM)

    pki = KubeletClientPki(folder / "ca.crt", folder / "client.crt", folder / "client.key")
    pki.ca.write_bytes(signed(ca_name, ca_key.public_key(), True))
    pki.cert.write_bytes(signed(_cn("kube-apiserver"), key.public_key(), False))
    pki.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pki.key.chmod(0o600)
    return pki


def _cn(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
