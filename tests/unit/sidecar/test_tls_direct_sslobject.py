"""The sidecar's TLS contexts hand uvloop an SSLObject whose read / write / pending are
the C object's own methods, and TLS through uvloop carries bytes unchanged with them."""

from __future__ import annotations

import asyncio
import ssl
import time

import uvloop
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mesh_runtime.control.ca import CertificateAuthority
from mesh_runtime.sidecar.keygen import make_csr
from mesh_runtime.sidecar.tls import Credentials, DirectSSLObject

PAYLOAD = bytes(range(256)) * 1024
"""256 KiB: many TLS records each way, so reads go through uvloop's buffered and
pending paths, and writes through several records."""


def credentials(ca: CertificateAuthority, service: str) -> Credentials:
    key = ec.generate_private_key(ec.SECP256R1())
    issued = ca.sign(make_csr(key, service), f"spiffe://cluster.local/ns/default/sa/{service}")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    now = time.time()
    return Credentials.build(
        issued.certificate,
        key_pem,
        ca.root_pem,
        principal=issued.spiffe_id,
        serial=issued.serial,
        not_after=now + 3600,
        issued_at=now,
    )


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def echo_over_tls(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[bytes, object]:
    listener = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0, ssl=server)
    port = listener.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        writer.write(PAYLOAD)
        await writer.drain()
        echoed = await asyncio.wait_for(reader.readexactly(len(PAYLOAD)), 10)
        ssl_object = writer.get_extra_info("ssl_object")
        writer.close()
        await writer.wait_closed()
    finally:
        listener.close()
        await listener.wait_closed()
    return echoed, ssl_object


def test_tls_through_uvloop_with_the_direct_ssl_object() -> None:
    """Both contexts make DirectSSLObjects (read / write / pending bound to the C object),
    and 256 KiB go through a uvloop mTLS echo and back unchanged."""
    ca = CertificateAuthority.create()
    server, client = credentials(ca, "catalog"), credentials(ca, "frontend")
    assert server.server.sslobject_class is DirectSSLObject
    assert client.client.sslobject_class is DirectSSLObject
    echoed, ssl_object = uvloop.run(echo_over_tls(server.server, client.client))
    assert echoed == PAYLOAD
    assert isinstance(ssl_object, DirectSSLObject)
    for name in ("read", "write", "pending"):
        method = getattr(ssl_object, name)
        assert not hasattr(method, "__func__"), f"{name} is still the Python wrapper"
        assert method.__self__ is ssl_object._sslobj  # type: ignore[attr-defined]
