"""The control plane's certificate API and write guard, against a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from security_procs import TOKEN, TRUST_DOMAIN, start_control_plane
from sidecar_procs import Processes, endpoint, free_port, mesh_config, ready_200, wait_until

from mesh_runtime.sidecar.identity import make_csr

pytestmark = pytest.mark.integration


def csr() -> str:
    return make_csr(ec.generate_private_key(ec.SECP256R1()), "catalog").decode()


@pytest.fixture
def control(procs: Processes) -> tuple[str, str]:
    config = mesh_config({"catalog": {"endpoints": [endpoint("catalog-0", free_port())]}})
    url, ca_dir = start_control_plane(procs, config, cert_lifetime="90s")
    return url, (ca_dir / "bootstrap-token").read_text().strip()


def test_a_csr_with_the_bootstrap_token_gets_a_spiffe_certificate(control: tuple[str, str]) -> None:
    """POST /v1/certificates answers a leaf with the claimed service's SPIFFE ID, signed by
    the root GET /v1/certificates/root serves, valid for the configured lifetime."""
    url, bootstrap = control
    answer = requests.post(
        f"{url}/v1/certificates",
        json={"csr": csr(), "service": "catalog", "instance": "catalog-0"},
        headers={"Authorization": f"Bearer {bootstrap}"},
        timeout=5,
    )
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


@pytest.mark.parametrize(
    ("token", "body", "status"),
    [
        ("wrong", {"service": "catalog"}, 401),
        (None, {"service": "catalog"}, 401),
        ("bootstrap", {"service": "nobody"}, 404),
        ("bootstrap", {"service": "catalog", "csr": "not a csr"}, 400),
        ("bootstrap", {"csr": "x"}, 400),
    ],
)
def test_bad_certificate_requests_are_refused(
    control: tuple[str, str], token: str | None, body: dict[str, str], status: int
) -> None:
    """A wrong or missing bootstrap token is 401, an unknown service 404, a bad CSR 400."""
    url, bootstrap = control
    data = {"csr": csr(), **body}
    headers = {"Authorization": f"Bearer {bootstrap if token == 'bootstrap' else token}"}
    answer = requests.post(
        f"{url}/v1/certificates", json=data, headers=headers if token else {}, timeout=5
    )
    assert answer.status_code == status
    assert "error" in answer.json()


def test_the_write_token_is_not_the_bootstrap_token(control: tuple[str, str]) -> None:
    """The bootstrap token does not authorise config writes, nor the write token certificates."""
    url, bootstrap = control
    write = requests.patch(
        f"{url}/v1/services/catalog/policy",
        json={"mtls": "STRICT"},
        headers={"Authorization": f"Bearer {bootstrap}"},
        timeout=5,
    )
    assert write.status_code == 401
    cert = requests.post(
        f"{url}/v1/certificates",
        json={"csr": csr(), "service": "catalog"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert cert.status_code == 401


def test_writes_outside_the_allowed_networks_are_forbidden(procs: Processes) -> None:
    """With --allow-writes-from naming another network, a loopback write is 403."""
    (procs.tmp / "mesh.json").write_text(json.dumps(mesh_config({"catalog": {"endpoints": []}})))
    (procs.tmp / "token").write_text(TOKEN)
    port = free_port()
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
    """A bad --cert-lifetime or --allow-writes-from exits 2 with one line, no traceback."""
    (procs.tmp / "mesh.json").write_text(json.dumps(mesh_config({})))
    (procs.tmp / "token").write_text(TOKEN)
    base = [sys.executable, "-m", "mesh_runtime.control", "--config", str(procs.tmp / "mesh.json")]
    base += ["--port", str(free_port()), "--token-file", str(procs.tmp / "token")]
    for extra in (
        ["--ca-dir", str(procs.tmp / "ca"), "--cert-lifetime", "soon"],
        ["--allow-writes-from", "not-a-network"],
        ["--bootstrap-token-file", str(procs.tmp / "t")],
    ):
        done = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
