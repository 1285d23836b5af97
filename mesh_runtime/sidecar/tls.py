"""Mutual TLS between sidecars: contexts, peer identities, and the sniffing inbound listener.

Istio's shape. Each sidecar holds a short-lived certificate whose URI SAN is its SPIFFE ID
(`spiffe://<trustDomain>/ns/default/sa/<service>`), issued by the control plane's CA
(`identity.py` obtains and renews it). Sidecar-to-sidecar connections are TLS 1.3 with
certificates required on both ends; the caller also checks that the server's SPIFFE ID
is the destination service's (secure naming), as Envoy's SAN match does.

The inbound listener takes the PeerAuthentication mode per connection: DISABLE serves
plain HTTP; PERMISSIVE peeks at the first byte (0x16 opens a TLS handshake, as Istio's
TLS inspector sees it) and serves TLS or plain text; STRICT refuses plain text. The peek
happens on the accepted socket before any transport owns it (uvloop starts reading at
once), then `connect_accepted_socket` hands the socket to the HTTP protocol, over TLS or
not. Renewal swaps the contexts: new connections use the new certificate, open ones go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh_runtime.policy_rules import MtlsMode
from mesh_runtime.sidecar.http1 import Downstream
from mesh_runtime.sidecar.meshconfig import MeshConfig

log = logging.getLogger(__name__)

TLS_RECORD_HANDSHAKE = 0x16
ACCEPT_BATCH = 64


def effective_mode(config: MeshConfig | None, service: str) -> MtlsMode:
    """The PeerAuthentication mode of `service`: its own override, else the mesh's."""
    if config is None:
        return "DISABLE"
    entry = config.services.get(service)
    if entry is not None and entry.policy.mtls is not None:
        return entry.policy.mtls
    return config.mesh.mtls


def principal_of(peercert: Any) -> str:
    """The SPIFFE ID in a verified peer certificate's URI SANs ('' when it has none)."""
    if not isinstance(peercert, dict):
        return ""
    for kind, value in peercert.get("subjectAltName", ()):
        if kind == "URI" and str(value).startswith("spiffe://"):
            return str(value)
    return ""


def downstream_of(transport: asyncio.BaseTransport) -> Downstream:
    """Who is on the other end of a server connection, and whether it came over mTLS."""
    peer = transport.get_extra_info("peername")
    remote = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else ""
    if transport.get_extra_info("ssl_object") is None:
        return Downstream(remote)
    return Downstream(remote, True, principal_of(transport.get_extra_info("peercert")))


def negotiated_h2(transport: asyncio.BaseTransport) -> bool:
    """Whether TLS on this connection agreed on HTTP/2 by ALPN."""
    ssl_object = transport.get_extra_info("ssl_object")
    return ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2"


@dataclass(frozen=True)
class Credentials:
    """One issued certificate with its key, and the two contexts made from them."""

    principal: str
    serial: int
    not_after: float
    """Expiry, seconds since the epoch."""
    issued_at: float
    server: ssl.SSLContext
    client: ssl.SSLContext
    client_h2: ssl.SSLContext | None = None
    """The client context that offers only `h2` by ALPN (HTTP/2 upstream connections)."""

    @classmethod
    def build(
        cls,
        cert_pem: bytes,
        key_pem: bytes,
        root_pem: bytes,
        *,
        principal: str,
        serial: int,
        not_after: float,
        issued_at: float,
    ) -> Credentials:
        server = _context(True, cert_pem, key_pem, root_pem, ["h2", "http/1.1"])
        client = _context(False, cert_pem, key_pem, root_pem, ["http/1.1"])
        client_h2 = _context(False, cert_pem, key_pem, root_pem, ["h2"])
        return cls(principal, serial, not_after, issued_at, server, client, client_h2)

    def summary(self) -> dict[str, Any]:
        """What the admin API may show (never the key)."""
        return {
            "principal": self.principal,
            "serial": f"{self.serial:x}",
            "not_after": self.not_after,
            "issued_at": self.issued_at,
        }


class DirectSSLObject(ssl.SSLObject):
    """An `ssl.SSLObject` whose `read`, `write` and `pending` are the C object's own.

    uvloop's TLS takes these three bound methods once per connection and calls them for
    every record it reads or writes; `ssl.SSLObject`'s are Python methods that only pass
    the call on, an interpreted frame each, several a request. The C methods take the
    same arguments (`read(len[, buffer])`, `write(data)`, `pending()`) and raise the same
    errors."""

    @classmethod
    def _create(cls, *args: Any, **kwargs: Any) -> DirectSSLObject:
        made: DirectSSLObject = super()._create(*args, **kwargs)  # type: ignore[misc]
        inner = made._sslobj  # type: ignore[attr-defined]
        made.read = inner.read  # type: ignore[method-assign]
        made.write = inner.write  # type: ignore[method-assign]
        made.pending = inner.pending  # type: ignore[method-assign]
        return made


def _context(server: bool, cert: bytes, key: bytes, root: bytes, alpn: list[str]) -> ssl.SSLContext:
    """TLS 1.3 only, peer certificates required and checked against the mesh root; `alpn`
    the protocols offered (a server picks the client's first it knows: h2, else http/1.1)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.sslobject_class = DirectSSLObject
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(alpn)
    if not server:
        ctx.check_hostname = False  # the SPIFFE ID is checked instead (secure naming)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=root.decode("ascii"))
    if server:
        # No TLS 1.3 session tickets: no caller resumes a session (uvloop and the TCP ends
        # pass none), and OpenSSL's default two a connection were ~18 % of a handshake's
        # CPU (3.7 M of 20.7 M instructions for both ends) and ~6 KB a client held.
        ctx.num_tickets = 0
    # ssl loads a key only from a file: a private directory, removed at once.
    with tempfile.TemporaryDirectory(prefix="meshproof-tls-") as tmp:
        cert_file, key_file = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        _write_private(cert_file, cert)
        _write_private(key_file, key)
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@dataclass
class ListenerStats:
    """Connections the sniffing listener saw, by outcome (shown in the admin /stats)."""

    tls: int = 0
    plain: int = 0
    plaintext_refused: int = 0
    handshake_failures: int = 0
    no_certificate: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


ProtocolFactory = Callable[[], asyncio.BaseProtocol]


class SniffingListener:
    """The inbound listener when the sidecar has (or may get) an identity."""

    def __init__(
        self,
        sock: socket.socket,
        factory: ProtocolFactory,
        mode: Callable[[], MtlsMode],
        credentials: Callable[[], Credentials | None],
        handshake_timeout: float,
        full: Callable[[], bool] = lambda: False,
    ) -> None:
        self._sock = sock
        self._factory = factory
        self._mode = mode
        self._credentials = credentials
        self._timeout = handshake_timeout
        self._full = full
        self._waiting: dict[socket.socket, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = ListenerStats()
        self._loop = asyncio.get_running_loop()
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting; connections still being sniffed are dropped."""
        if self._sock.fileno() < 0:
            return
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        for conn in list(self._waiting):
            self._drop(conn)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: the next wake-up tries again
                log.warning("accept failed: %s", exc)
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._route(conn)

    def _route(self, conn: socket.socket) -> None:
        if self._mode() == "DISABLE":
            self._attach(conn, None)
            return
        if self._full():
            conn.close()  # HttpServerProtocol counts the refusal for plain listeners
            return
        self._waiting[conn] = self._loop.call_later(self._timeout, self._drop, conn)
        self._loop.add_reader(conn.fileno(), self._sniff, conn)

    def _sniff(self, conn: socket.socket) -> None:
        try:
            first = conn.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        self._forget(conn)
        if not first:
            conn.close()
        elif first[0] == TLS_RECORD_HANDSHAKE:
            self._serve_tls(conn)
        elif self._mode() == "STRICT":
            self.stats.plaintext_refused += 1
            conn.close()
        else:
            self._attach(conn, None)

    def _serve_tls(self, conn: socket.socket) -> None:
        credentials = self._credentials()
        if credentials is None:
            self.stats.no_certificate += 1
            conn.close()
            return
        self._attach(conn, credentials.server)

    def _attach(self, conn: socket.socket, context: ssl.SSLContext | None) -> None:
        task = self._loop.create_task(self._connect(conn, context))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, conn: socket.socket, context: ssl.SSLContext | None) -> None:
        try:
            if context is None:
                await self._loop.connect_accepted_socket(self._factory, conn)
                self.stats.plain += 1
                return
            await self._loop.connect_accepted_socket(
                self._factory, conn, ssl=context, ssl_handshake_timeout=self._timeout
            )
            self.stats.tls += 1
        except (OSError, TimeoutError, EOFError) as exc:  # ssl.SSLError is an OSError
            self.stats.handshake_failures += 1
            log.debug("inbound TLS handshake failed: %s", exc)
            with contextlib.suppress(OSError):
                conn.close()

    def _forget(self, conn: socket.socket) -> None:
        timer = self._waiting.pop(conn, None)
        if timer is not None:
            timer.cancel()
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(conn.fileno())

    def _drop(self, conn: socket.socket) -> None:
        self._forget(conn)
        conn.close()


def listen_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket with SO_REUSEPORT, as the plain listeners get (hot restart)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=backlog, reuse_port=True)
