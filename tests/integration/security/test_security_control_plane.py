"""The control plane's certificate API and write guard, against a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from security_procs import TOKEN, TRUST_DOMAIN, credential_of, start_control_plane
from sidecar_mesh import endpoint, mesh_config
from sidecar_procs import Processes, ready_200, wait_until

from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.sidecar.keygen import make_csr

pytestmark = pytest.mark.integration

SERVICES = ("catalog", "cart")


def csr() -> str:
    return make_csr(ec.generate_private_key(ec.SECP256R1()), "catalog").decode()


@pytest.fixture
def control(procs: Processes) -> tuple[str, Path]:
    """A control plane running the CA for a mesh of catalog and cart: its URL and CA dir."""
    services = {name: {"endpoints": [endpoint(f"{name}-0", fresh_port())]} for name in SERVICES}
    url, ca_dir = start_control_plane(procs, mesh_config(services), cert_lifetime="90s")
    return url, ca_dir


def ask(url: str, service: str, bearer: str | None, **body: str | None) -> requests.Response:
    """POST /v1/certificates for `service` (a fresh CSR unless `body` overrides it; a
    field given as None is left out)."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    fields = {"csr": csr(), "service": service, "instance": f"{service}-0", **body}
    data = {name: value for name, value in fields.items() if value is not None}
    return requests.post(f"{url}/v1/certificates", json=data, headers=headers, timeout=5)


def test_a_csr_with_its_services_credential_gets_a_spiffe_certificate(
    control: tuple[str, Path],
) -> None:
    """POST /v1/certificates answers a leaf with the service's SPIFFE ID, signed by the
    root GET /v1/certificates/root serves, valid for the configured lifetime."""
    url, ca_dir = control
    answer = ask(url, "catalog", credential_of(ca_dir, "catalog"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    leaf = x509.load_pem_x509_certificate(body["certificate"].encode())
    root = x509.load_pem_x509_certificate(
        requests.get(f"{url}/v1/certificates/root", timeout=5).content
    )
    leaf.verify_directly_issued_by(root)
    uris = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    expected = f"spiffe://{TRUST_DOMAIN}/ns/default/sa/catalog"
    assert uris.get_values_for_type(x509.UniformResourceIdentifier) == [expected]
    assert body["spiffe_id"] == expected
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime.total_seconds() == 90 + 60  # backdated a minute for clock skew


def test_catalogs_credential_cannot_get_a_certificate_for_cart(control: tuple[str, Path]) -> None:
    """catalog's credential asking for cart is 403 with a JSON error naming both; the same
    credential gets catalog's certificate, and cart's credential gets cart's."""
    url, ca_dir = control
    refused = ask(url, "cart", credential_of(ca_dir, "catalog"))
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "the credential of catalog cannot get a certificate for cart"
    }
    own = ask(url, "catalog", credential_of(ca_dir, "catalog"))
    assert own.status_code == 200 and own.json()["spiffe_id"].endswith("/sa/catalog")
    cart = ask(url, "cart", credential_of(ca_dir, "cart"))
    assert cart.status_code == 200 and cart.json()["spiffe_id"].endswith("/sa/cart")


@pytest.mark.parametrize(
    ("bearer", "service", "body", "status"),
    [
        ("wrong", "catalog", {}, 401),
        (None, "catalog", {}, 401),
        ("secret", "catalog", {}, 401),
        ("write-token", "catalog", {}, 401),
        ("nobody", "nobody", {}, 404),
        ("catalog", "nobody", {}, 403),
        ("catalog", "catalog", {"csr": "not a csr"}, 400),
        ("catalog", "catalog", {"csr": None}, 400),
    ],
)
def test_bad_certificate_requests_are_refused(
    control: tuple[str, Path],
    bearer: str | None,
    service: str,
    body: dict[str, str | None],
    status: int,
) -> None:
    """No credential, a wrong one, the bootstrap secret itself or the write token is 401;
    another service's credential 403; an unknown service 404; a bad or missing CSR 400."""
    url, ca_dir = control
    named = {"secret": (ca_dir / "bootstrap-secret").read_text().strip(), "write-token": TOKEN}
    if bearer in ("catalog", "nobody"):
        named[bearer] = credential_of(ca_dir, bearer)
    answer = ask(url, service, named.get(bearer or "", bearer), **body)
    assert answer.status_code == status
    assert "error" in answer.json()


def test_the_write_token_is_not_a_bootstrap_credential(control: tuple[str, Path]) -> None:
    """A service's credential does not authorise config writes."""
    url, ca_dir = control
    write = requests.patch(
        f"{url}/v1/services/catalog/policy",
        json={"mtls": "STRICT"},
        headers={"Authorization": f"Bearer {credential_of(ca_dir, 'catalog')}"},
        timeout=5,
    )
    assert write.status_code == 401


def test_writes_outside_the_allowed_networks_are_forbidden(procs: Processes) -> None:
    """With --allow-writes-from naming another network, a loopback write is 403."""
    (procs.tmp / "mesh.json").write_text(json.dumps(mesh_config({"catalog": {"endpoints": []}})))
    (procs.tmp / "token").write_text(TOKEN)
    port = fresh_port()
    argv = [sys.executable, "-m", "mesh_runtime.control", "--config", str(procs.tmp / "mesh.json")]
    argv += ["--port", str(port), "--token-file", str(procs.tmp / "token")]
    argv += ["--allow-writes-from", "10.99.0.0/16"]
    procs.spawn("control-plane", argv)
    wait_until(ready_200(port, "/ready"), 15, "control plane")
    answer = requests.patch(
        f"http://127.0.0.1:{port}/v1/services/catalog/policy",
        json={"mtls": "STRICT"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 403


def test_bad_ca_flags_are_one_line_errors(procs: Processes) -> None:
    """A bad --cert-lifetime or --allow-writes-from, or --bootstrap-secret-file without
    --ca-dir, exits 2 with one line, no traceback."""
    (procs.tmp / "mesh.json").write_text(json.dumps(mesh_config({})))
    (procs.tmp / "token").write_text(TOKEN)
    base = [sys.executable, "-m", "mesh_runtime.control", "--config", str(procs.tmp / "mesh.json")]
    base += ["--port", str(fresh_port()), "--token-file", str(procs.tmp / "token")]
    for extra in (
        ["--ca-dir", str(procs.tmp / "ca"), "--cert-lifetime", "soon"],
        ["--allow-writes-from", "not-a-network"],
        ["--bootstrap-secret-file", str(procs.tmp / "t")],
    ):
        done = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
