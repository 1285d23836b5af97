"""The load driver reaches an external ingress as its target file says: over TLS with a
private CA (or without checking), with a client certificate, the Host header (also the TLS
server name) and extra headers on every request; a server it cannot trust gets no request."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.load import LoadDriver
from harness.spec.load import LoadSpec
from mesh_runtime.target import IngressAccess
from tests.integration.target.pki import make_pki

HOST = "shop.staging.example"


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """A CA, a server certificate for HOST and a client certificate, as PEM files."""
    return make_pki(tmp_path, HOST)


class Seen:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()


@pytest.fixture
def gateway(pki: dict[str, Path]) -> Iterator[tuple[str, Seen]]:
    """An HTTPS server on 127.0.0.1 that demands a client certificate from the CA and
    remembers each request's Host, headers and client certificate subject."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.connection.getpeercert()  # type: ignore[attr-defined]
            subject = dict(x[0] for x in peer.get("subject", ())) if peer else {}
            with seen.lock:
                seen.requests.append(
                    {
                        "host": self.headers.get("Host"),
                        "tenant": self.headers.get("x-tenant"),
                        "client": subject.get("commonName"),
                    }
                )
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server"], pki["server_key"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen.sni = names  # type: ignore[attr-defined]
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def run_load(ingress: IngressAccess, work: Path) -> list[dict[str, Any]]:
    spec = LoadSpec(rps=20, duration="1s", warmup="0s", connections=2, timeout="3s")
    driver = LoadDriver(spec, ingress.url, work, ingress=ingress)
    try:
        driver.start()
        assert driver.wait(20)
    finally:
        driver.stop()
    return [
        json.loads(line)
        for path in driver.records_files()
        for line in path.read_text().splitlines()
    ]


def test_tls_with_private_ca_client_cert_host_and_headers(
    gateway: tuple[str, Seen], pki: dict[str, Path], tmp_path: Path
) -> None:
    """Every request arrives over TLS trusted through the CA file, with the client
    certificate, `Host: HOST` (also the SNI) and the extra header."""
    url, seen = gateway
    ingress = IngressAccess(
        url=url,
        host=HOST,
        headers={"x-tenant": "t1"},
        ca_file=pki["ca"],
        client_cert=pki["client"],
        client_key=pki["client_key"],
    )
    rows = run_load(ingress, tmp_path / "load")
    assert len(rows) == pytest.approx(20, abs=2)
    assert {r["status"] for r in rows} == {200}
    assert len(seen.requests) == len(rows)
    assert {(r["host"], r["tenant"], r["client"]) for r in seen.requests} == {
        (HOST, "t1", "load-driver")
    }
    assert set(seen.sni) == {HOST}  # type: ignore[attr-defined]


def test_untrusted_server_gets_nothing_unless_skip_verify(
    gateway: tuple[str, Seen], pki: dict[str, Path], tmp_path: Path
) -> None:
    """Without the CA the server's certificate is refused (status 0, no request served);
    insecure_skip_verify accepts it."""
    url, seen = gateway
    strict = IngressAccess(
        url=url, host=HOST, client_cert=pki["client"], client_key=pki["client_key"]
    )
    rows = run_load(strict, tmp_path / "strict")
    assert rows and all(
        r["status"] == 0 and "CERTIFICATE_VERIFY_FAILED" in r["error"] for r in rows
    )
    assert seen.requests == []
    loose = IngressAccess(
        url=url, insecure_skip_verify=True, client_cert=pki["client"], client_key=pki["client_key"]
    )
    rows = run_load(loose, tmp_path / "loose")
    assert rows and {r["status"] for r in rows} == {200}


def test_target_check_reaches_the_ingress_as_the_load_does(
    gateway: tuple[str, Seen], pki: dict[str, Path]
) -> None:
    """`target check`'s ingress line: trusted through the CA file with the client
    certificate and the Host's name; an untrusted certificate fails in one line."""
    from harness.target.check import check_ingress

    url, seen = gateway
    client = {"client_cert": pki["client"], "client_key": pki["client_key"]}
    good = check_ingress(IngressAccess(url=url, host=HOST, ca_file=pki["ca"], **client), 5.0)
    assert good.ok and good.detail.startswith(f"{url}/ answered 200 in ")
    assert good.detail.endswith(f"(Host: {HOST})")
    assert seen.requests[-1]["host"] == HOST and seen.requests[-1]["client"] == "load-driver"
    untrusted = check_ingress(IngressAccess(url=url, host=HOST, **client), 5.0)
    assert not untrusted.ok and "CERTIFICATE_VERIFY_FAILED" in untrusted.detail
    assert "\n" not in untrusted.detail
    loose = check_ingress(IngressAccess(url=url, insecure_skip_verify=True, **client), 5.0)
    assert loose.ok
