"""A certificate fetch against a loopback CA endpoint: the TLS contexts are built off the
event loop's thread (a renewal never holds the requests in flight), and an unusable
answer is a ControlPlaneError."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from mesh_runtime.control.ca import CertificateAuthority
from mesh_runtime.errors import ControlPlaneError
from mesh_runtime.sidecar import identity
from mesh_runtime.sidecar.identity import CertificateClient
from mesh_runtime.sidecar.tls import Credentials

Answer = Callable[[CertificateAuthority, dict[str, Any]], dict[str, Any]]


def signed(ca: CertificateAuthority, body: dict[str, Any]) -> dict[str, Any]:
    issued = ca.sign(body["csr"].encode("ascii"), "spiffe://cluster.local/ns/default/sa/a")
    return {
        "certificate": issued.certificate.decode("ascii"),
        "root": issued.root.decode("ascii"),
        "spiffe_id": issued.spiffe_id,
        "serial": f"{issued.serial:x}",
        "not_after": issued.not_after,
    }


def unusable(ca: CertificateAuthority, body: dict[str, Any]) -> dict[str, Any]:
    return {**signed(ca, body), "certificate": "-----BEGIN CERTIFICATE-----\njunk\n"}


async def fetch_from(answer: Answer) -> Credentials:
    ca = CertificateAuthority.create()

    async def sign(request: web.Request) -> web.Response:
        return web.json_response(answer(ca, await request.json()))

    app = web.Application()
    app.router.add_post("/v1/certificates", sign)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        return await CertificateClient(f"http://127.0.0.1:{port}", "t", "a", "a-0").fetch()
    finally:
        await runner.cleanup()


def test_the_tls_contexts_are_built_off_the_loops_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    built_on: list[int] = []
    build = Credentials.build

    def recording(*args: Any, **kwargs: Any) -> Credentials:
        built_on.append(threading.get_ident())
        return build(*args, **kwargs)

    monkeypatch.setattr(identity.Credentials, "build", recording)
    credentials = asyncio.run(fetch_from(signed))
    assert credentials.principal == "spiffe://cluster.local/ns/default/sa/a"
    assert credentials.client_h2 is not None
    assert len(built_on) == 1 and built_on[0] != threading.get_ident()


def test_an_unusable_certificate_is_a_control_plane_error() -> None:
    with pytest.raises(ControlPlaneError, match="unusable certificate"):
        asyncio.run(fetch_from(unusable))
