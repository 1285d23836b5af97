"""The control plane's CA and the sidecar's certificate timing, without sockets."""

from __future__ import annotations

import itertools
import random
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mesh_runtime.control.ca import CertificateAuthority, load_csr
from mesh_runtime.errors import InvalidInput
from mesh_runtime.runtimes.plan import Tools, make_plan
from mesh_runtime.sidecar.identity import RENEW_JITTER, renewal_due, retry_delay
from mesh_runtime.sidecar.keygen import make_csr
from mesh_runtime.sidecar.tls import Credentials, principal_of
from mesh_runtime.topology import load_topology
from tests.fixtures.fixed_random import Fixed

NOW = 1_800_000_000.0
ID = "spiffe://meshproof.local/ns/default/sa/catalog"
SHOP = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop.yaml"


def key_and_csr(subject: str = "anything") -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, make_csr(key, subject)


def test_leaf_carries_only_the_claimed_spiffe_id_and_the_lifetime() -> None:
    """The leaf's only SAN is the SPIFFE ID the CA was given (not the CSR's subject); it
    is an end-entity certificate for client and server auth, valid for the lifetime."""
    ca = CertificateAuthority.create(clock=lambda: NOW, leaf_lifetime_s=6)
    _, csr = key_and_csr("cart")
    issued = ca.sign(csr, ID)
    cert = x509.load_pem_x509_certificate(issued.certificate)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [ID]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert issued.not_after == NOW + 6
    assert cert.not_valid_after_utc.timestamp() == NOW + 6
    assert cert.issuer == ca.root.subject


def test_root_and_leaf_make_working_tls_contexts() -> None:
    """Credentials built from an issued leaf load into TLS 1.3 server and client contexts."""
    ca = CertificateAuthority.create()
    key, csr = key_and_csr()
    issued = ca.sign(csr, ID)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    creds = Credentials.build(
        issued.certificate, key_pem, issued.root, principal=ID, serial=1, not_after=0, issued_at=0
    )
    assert creds.server.minimum_version == ssl.TLSVersion.TLSv1_3
    assert creds.client.verify_mode == ssl.CERT_REQUIRED
    assert "key" not in str(creds.summary()).lower()


def test_a_csr_with_a_broken_signature_is_refused() -> None:
    """A CSR whose signature does not verify (key not proven) is an InvalidInput."""
    _, csr = key_and_csr()
    text = csr.decode()
    body = text.splitlines()
    body[3] = body[3][:10] + ("A" if body[3][10] != "A" else "B") + body[3][11:]
    with pytest.raises(InvalidInput):
        load_csr("\n".join(body).encode())
    with pytest.raises(InvalidInput):
        load_csr(b"not a csr")


def test_root_is_kept_and_reloaded(tmp_path: Path) -> None:
    """load_or_create saves the root (key 0600) and a second start signs under it."""
    first = CertificateAuthority.load_or_create(tmp_path / "ca")
    mode = stat.S_IMODE((tmp_path / "ca" / "root-key.pem").stat().st_mode)
    assert mode == 0o600
    second = CertificateAuthority.load_or_create(tmp_path / "ca")
    assert second.root_pem == first.root_pem


def test_principal_of_reads_the_uri_san() -> None:
    """The SPIFFE ID comes from the verified peer certificate's URI SAN."""
    assert principal_of({"subjectAltName": (("DNS", "x"), ("URI", ID))}) == ID
    assert principal_of({"subjectAltName": (("URI", "https://x"),)}) == ""
    assert principal_of(None) == ""


def test_renewal_is_due_at_half_life_moved_by_the_jitter_either_way() -> None:
    """A 1 h certificate issued at t is renewed at t + 30 min, a draw of 0 / 1 moving it
    RENEW_JITTER of the hour earlier / later (Istio's grace ratio 0.5 and its jitter)."""
    assert renewal_due(100.0, 3700.0, Fixed(0.5)) == 1900.0
    assert renewal_due(100.0, 3700.0, Fixed(0.0)) == pytest.approx(1900.0 - 3600 * RENEW_JITTER)
    assert renewal_due(100.0, 3700.0, Fixed(1.0)) == pytest.approx(1900.0 + 3600 * RENEW_JITTER)
    assert 0 < RENEW_JITTER <= 0.1


def test_renewal_never_falls_before_issue_nor_after_expiry() -> None:
    """However wide the jitter, the renewal stays within the certificate's validity."""
    assert renewal_due(100.0, 106.0, Fixed(0.0), jitter=0.9) == 100.0
    assert renewal_due(100.0, 106.0, Fixed(1.0), jitter=0.9) == 106.0


def test_a_mesh_started_together_does_not_renew_together() -> None:
    """Six sidecars with certificates issued in the same second (their own random
    sources, seeded apart) renew at six different seconds spread over the jitter's band,
    and 1000 draws cover the band evenly."""
    dues = [renewal_due(0.0, 3600.0, random.Random(seed)) for seed in range(6)]
    assert len({int(due) for due in dues}) == 6
    assert all(1800 - 180 <= due <= 1800 + 180 for due in dues)
    many = sorted(renewal_due(0.0, 3600.0, random.Random(s)) for s in range(1000))
    assert many[0] < 1800 - 170 and many[-1] > 1800 + 170
    assert 1790 < many[500] < 1810


def test_retries_back_off_but_stay_well_before_expiry() -> None:
    """Failed renewals back off (capped), never longer than a quarter of the time left."""
    rng = random.Random(1)
    assert all(retry_delay(n, 3600, rng) <= 5.0 for n in range(1, 20))
    assert retry_delay(10, 2.0, rng) <= 0.5


def test_plan_gives_the_control_plane_a_ca_and_sidecars_their_own_credentials() -> None:
    """The local plan runs the CA in the work dir with its bootstrap secret and hands each
    sidecar its own credential file and the admin token file."""
    counter = itertools.count(20000)
    tools = Tools(python="/py", toxiproxy="/t", prometheus="/p")
    plan = make_plan(
        load_topology(SHOP),
        topology_file=str(SHOP),
        mode="mesh",
        allocate_port=lambda: next(counter),
        work_dir=Path("/w/shop"),
        tools=tools,
    )
    control = next(p for p in plan.processes if p.role == "control-plane")
    assert control.command[control.command.index("--ca-dir") + 1] == "/w/shop/ca"
    secret = control.command[control.command.index("--bootstrap-secret-file") + 1]
    assert secret == "/w/shop/ca/bootstrap-secret"
    for sidecar in (p for p in plan.processes if p.role == "sidecar"):
        instance = sidecar.name.removesuffix("-sidecar")
        flag = sidecar.command.index("--bootstrap-token-file")
        assert sidecar.command[flag + 1] == f"/w/shop/credentials/{instance}"
        admin = sidecar.command.index("--admin-token-file")
        assert sidecar.command[admin + 1] == "/w/shop/admin-token"
