"""A small mesh with a control plane CA: catalog (the destination), frontend and cart.

Every process is a real one on 127.0.0.1 ephemeral ports, started through the sidecar
tests' `Processes` (own session, killed by the fixture's finalizer).
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sidecar_mesh import endpoint, mesh_config
from sidecar_procs import Processes, Sidecar, ready_200, wait_until

from mesh_runtime.control.ca import CertificateAuthority, IssuedCertificate
from mesh_runtime.control.credentials import mint_credential
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.sidecar.keygen import make_csr

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
TOKEN = "control-write-token-0123456789"
TRUST_DOMAIN = "meshproof.local"


def spiffe(service: str) -> str:
    return f"spiffe://{TRUST_DOMAIN}/ns/default/sa/{service}"


@dataclass
class SecureMesh:
    procs: Processes
    control_url: str
    ca_dir: Path
    catalog: Sidecar
    frontend: Sidecar
    cart: Sidecar
    app_log: Path

    def patch_policy(self, service: str, patch: dict[str, Any]) -> int:
        """Change a service's policy through the control plane; wait until sidecars run it."""
        answer = requests.patch(
            f"{self.control_url}/v1/services/{service}/policy",
            json=patch,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        version = int(answer.json()["version"])
        for car in (self.catalog, self.frontend, self.cart):
            wait_until(lambda car=car: config_version(car) >= version, 15, "config push")
        return version

    def app_requests(self) -> list[dict[str, Any]]:
        if not self.app_log.exists():
            return []
        return [json.loads(line) for line in self.app_log.read_text().splitlines()]

    def issue(self, service: str, *, now: float | None = None, lifetime: float = 3600) -> Cert:
        """A certificate from the mesh's own CA (read from its directory), for tests."""
        ca = CertificateAuthority.load_or_create(self.ca_dir)
        return issue_from(ca, service, now=now, lifetime=lifetime)


@dataclass
class Cert:
    issued: IssuedCertificate
    key_pem: bytes
    root_pem: bytes

    def files(self, directory: Path) -> tuple[Path, Path, Path]:
        cert, key, root = directory / "c.pem", directory / "k.pem", directory / "r.pem"
        cert.write_bytes(self.issued.certificate)
        key.write_bytes(self.key_pem)
        root.write_bytes(self.root_pem)
        return cert, key, root


def issue_from(
    ca: CertificateAuthority, service: str, *, now: float | None = None, lifetime: float = 3600
) -> Cert:
    key = ec.generate_private_key(ec.SECP256R1())
    issued = ca.sign(make_csr(key, service), spiffe(service), lifetime_s=lifetime, now=now)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Cert(issued, key_pem, ca.root_pem)


def client_context(cert: Cert, trust_root: bytes, tmp: Path) -> ssl.SSLContext:
    """A TLS 1.3 client context presenting `cert` and trusting `trust_root`."""
    cert_file, key_file, _ = cert.files(tmp)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=trust_root.decode())
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def tls_get(port: int, ctx: ssl.SSLContext, path: str = "/", timeout: float = 5.0) -> bytes:
    """One GET over TLS; the raw answer (raises ssl.SSLError / OSError when refused)."""
    head = f"GET {path} HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n"
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw,
        ctx.wrap_socket(raw) as sock,
    ):
        sock.sendall(head.encode())
        return read_all(sock, timeout)


def read_all(sock: socket.socket, timeout: float) -> bytes:
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def config_version(car: Sidecar) -> int:
    status = requests.get(f"http://127.0.0.1:{car.admin}/config_dump", timeout=2)
    return int(status.json()["version"]) if status.status_code == 200 else -1


def start_control_plane(
    procs: Processes, config: dict[str, Any], cert_lifetime: str = "1h"
) -> tuple[str, Path]:
    tmp = procs.tmp
    (tmp / "mesh.json").write_text(json.dumps(config))
    (tmp / "control-token").write_text(TOKEN)
    ca_dir = tmp / "ca"
    port = fresh_port()
    argv = [PYTHON, "-m", "mesh_runtime.control", "--config", str(tmp / "mesh.json")]
    argv += ["--port", str(port), "--token-file", str(tmp / "control-token")]
    argv += ["--ca-dir", str(ca_dir), "--cert-lifetime", cert_lifetime]
    procs.spawn("control-plane", argv)
    wait_until(ready_200(port, "/ready"), 15, "control plane")
    return f"http://127.0.0.1:{port}", ca_dir


def credential_of(ca_dir: Path, service: str) -> str:
    """`service`'s bootstrap credential under the secret the control plane keeps in `ca_dir`."""
    return mint_credential((ca_dir / "bootstrap-secret").read_text().strip(), service)


def start_sidecar(
    procs: Processes,
    service: str,
    app_port: int,
    control_url: str,
    ca_dir: Path,
    ports: tuple[int, int, int],
    extra: list[str] | None = None,
    instance: str | None = None,
) -> Sidecar:
    inbound, outbound, admin = ports
    instance = instance or f"{service}-0"
    args = ["--service", service, "--instance", instance]
    args += ["--inbound-port", str(inbound), "--outbound-port", str(outbound)]
    args += ["--app-port", str(app_port), "--admin-port", str(admin)]
    args += ["--control-plane", control_url, "--no-tracing"]
    credential = procs.tmp / f"credential-{instance}"
    credential.write_text(credential_of(ca_dir, service))
    args += ["--bootstrap-token-file", str(credential)]
    args += ["--access-log", str(procs.tmp / f"access-{instance}.jsonl"), *(extra or [])]
    proc = procs.spawn(f"sidecar-{instance}", [PYTHON, "-m", "mesh_runtime.sidecar", *args])
    wait_until(ready_200(admin, "/ready"), 20, f"sidecar {instance}")
    return Sidecar(proc, service, instance, inbound, outbound, admin, app_port, Path(), args)


def build_secure_mesh(
    procs: Processes,
    mtls: str = "STRICT",
    cert_lifetime: str = "1h",
    catalog_policy: dict[str, Any] | None = None,
    sidecar_extra: list[str] | None = None,
) -> SecureMesh:
    """catalog (recording app) behind its sidecar; frontend and cart sidecars as callers."""
    ports = {
        name: (fresh_port(), fresh_port(), fresh_port()) for name in ("catalog", "frontend", "cart")
    }
    services: dict[str, dict[str, Any]] = {
        name: {"endpoints": [endpoint(f"{name}-0", ports[name][0])]} for name in ports
    }
    if catalog_policy is not None:
        services["catalog"]["policy"] = catalog_policy
    config = mesh_config(services)
    config["mesh"] = {"trustDomain": TRUST_DOMAIN, "mtls": mtls}
    control_url, ca_dir = start_control_plane(procs, config, cert_lifetime)
    app_log = procs.tmp / "catalog-app.jsonl"
    app_port = fresh_port()
    recorder = [PYTHON, str(HERE / "recording_app.py"), "--port", str(app_port)]
    procs.spawn("catalog-app", [*recorder, "--log", str(app_log)])
    wait_until(ready_200(app_port, "/_health"), 15, "catalog app")
    cars = {
        name: start_sidecar(
            procs,
            name,
            app_port if name == "catalog" else fresh_port(),
            control_url,
            ca_dir,
            ports[name],
            sidecar_extra,
        )
        for name in ports
    }
    return SecureMesh(
        procs, control_url, ca_dir, cars["catalog"], cars["frontend"], cars["cart"], app_log
    )


def access_log(procs: Processes, instance: str) -> list[dict[str, Any]]:
    path = procs.tmp / f"access-{instance}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def access_line(procs: Processes, instance: str, path: str) -> dict[str, Any]:
    """The last access-log line for `path` (the log is flushed about once a second)."""
    found: list[dict[str, Any]] = []

    def logged() -> bool:
        found[:] = [e for e in access_log(procs, instance) if e["path"] == path]
        return bool(found)

    wait_until(logged, 10, f"access log line for {path}")
    return found[-1]
