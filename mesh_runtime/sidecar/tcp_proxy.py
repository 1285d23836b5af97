"""L4 proxying for `protocol: tcp` services: the caller's outbound and the server's inbound.

Outbound: one listener per tcp destination the app calls (`--tcp-outbound kv=PORT`); each
accepted connection gets an endpoint (`tcp_policy.choose_upstream`), a connection under
`connectionPool.tcp.connectTimeout` (mTLS with secure naming when the destination's mode
is not DISABLE, as HTTP upstreams get), then bytes flow both ways (`tcp_stream`). Inbound:
the sidecar of a tcp service serves its inbound port as L4: the PeerAuthentication mode per
connection as for HTTP (plain, PERMISSIVE sniffing, STRICT), mTLS terminated, the caller's
identity from its certificate, bytes piped to the app. Istio's `istio_tcp_*` counters on
both sides. On both sides a joined pair with no bytes either way for the service's
`connectionPool.tcp.idleTimeout` is closed, both ends (`tcp_idle`; 0 disables).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from mesh_runtime.errors import DeployError
from mesh_runtime.policy_rules import MtlsMode, spiffe_id
from mesh_runtime.sidecar.inbound import workload_of
from mesh_runtime.sidecar.meshconfig import TcpSettings
from mesh_runtime.sidecar.observe import Identity
from mesh_runtime.sidecar.policy.retry import AttemptResult
from mesh_runtime.sidecar.security import MeshSecurity
from mesh_runtime.sidecar.state import StateHolder, split_address
from mesh_runtime.sidecar.tcp_idle import watch_idle
from mesh_runtime.sidecar.tcp_policy import CONNECT_FAILURE, TcpUpstream, choose_upstream
from mesh_runtime.sidecar.tcp_stream import End, TlsSession, join
from mesh_runtime.sidecar.telemetry.metrics import MeshMetrics
from mesh_runtime.sidecar.telemetry.tcp_metrics import TcpConnectionLabels, TcpKey
from mesh_runtime.sidecar.tls import Credentials, SniffingListener, effective_mode, listen_socket

if TYPE_CHECKING:
    from mesh_runtime.sidecar.server import SidecarOptions

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
HANDSHAKE_TIMEOUT_S = 10.0
CONNECTED = AttemptResult(200)
NOT_CONNECTED = AttemptResult(None, "connect-failure")
"""What outlier detection hears of a connect (consecutiveGatewayErrors counts failures)."""


class _Counted:
    """A connection's byte counts, added to its metric key once that is known."""

    def __init__(self, metrics: MeshMetrics) -> None:
        self._metrics = metrics
        self.key: TcpKey | None = None
        self._early = [0, 0]

    def received(self, count: int) -> None:
        if self.key is None:
            self._early[0] += count
        else:
            self._metrics.tcp.received(self.key, count)

    def sent(self, count: int) -> None:
        if self.key is None:
            self._early[1] += count
        else:
            self._metrics.tcp.sent(self.key, count)

    def open(self, key: TcpKey) -> None:
        self.key = key
        self._metrics.tcp.opened(key)
        received, sent = self._early
        if received:
            self._metrics.tcp.received(key, received)
        if sent:
            self._metrics.tcp.sent(key, sent)

    def close(self) -> None:
        if self.key is not None:
            self._metrics.tcp.closed(self.key)

    def idle_timeout(self) -> None:
        if self.key is not None:
            self._metrics.tcp.idle_timeout(self.key)


async def _pipe(down: End, up: End, counted: _Counted, idle_timeout: float) -> None:
    """Join the two ends and wait until both are closed (or the idle timeout closes them)."""
    join(down, up)
    timer = watch_idle(down, up, idle_timeout, counted.idle_timeout)
    try:
        await asyncio.gather(down.closed, up.closed)
    finally:
        if timer is not None:
            timer.cancel()
    counted.close()


class _Tasks:
    """The connection tasks of a listener, kept referenced until they end."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class TcpOutbound:
    """The caller side for one tcp destination service."""

    def __init__(
        self,
        destination: str,
        holder: StateHolder,
        security: MeshSecurity,
        metrics: MeshMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.destination = destination
        self._holder = holder
        self._security = security
        self._metrics = metrics
        self._clock = clock
        self._open = 0
        self._tasks = _Tasks()

    async def listen(self, host: str, port: int) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        return await loop.create_server(self._accepted, sock=_bound(host, port))

    def _accepted(self) -> End:
        counted = _Counted(self._metrics)
        down = End(on_count=counted.received, paused=True)
        self._tasks.start(self._serve(down, counted))
        return down

    async def _serve(self, down: End, counted: _Counted) -> None:
        source = self._holder.source
        labels = TcpConnectionLabels(
            "source", source, self.destination, self.destination, "unknown"
        )
        state = self._holder.current
        svc = state.services.get(self.destination) if state is not None else None
        choice = choose_upstream(svc, source, self._open, self._clock()) if svc else "UH"
        if isinstance(choice, str):
            if choice == "UO":
                self._metrics.inc_overflow(self.destination)
            _refuse(down, counted, _with(labels, flags=choice))
            return
        assert svc is not None and state is not None
        labels = _with(labels, version=choice.version)
        self._open += 1
        svc.active[choice.instance] = svc.active.get(choice.instance, 0) + 1
        try:
            up = await self._connect(choice, counted, svc.connect_timeout)
            outcome = CONNECTED if up is not None else NOT_CONNECTED
            outlier = svc.outlier
            if outlier is not None and outlier.record(choice.instance, outcome, self._clock()):
                self._metrics.inc_ejection(self.destination, choice.instance)
            if up is None:
                _refuse(down, counted, _with(labels, flags=CONNECT_FAILURE))
                return
            counted.open(labels.key())
            await _pipe(down, up, counted, svc.idle_timeout)
        finally:
            self._open -= 1
            svc.active[choice.instance] = max(0, svc.active.get(choice.instance, 1) - 1)

    async def _connect(self, choice: TcpUpstream, counted: _Counted, timeout: float) -> End | None:
        """The upstream end, connected (and its TLS established), or None."""
        loop = asyncio.get_running_loop()
        tls, principal = self._tls()
        host, port = split_address(choice.address)
        end = End(TlsSession(tls, server_side=False) if tls else None, on_count=counted.sent)
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda: end, host, port)
                await end.ready
        except (OSError, TimeoutError, ConnectionError) as exc:
            log.debug("tcp connect to %s (%s) failed: %s", choice.instance, choice.address, exc)
            end.abort()
            return None
        if principal and (end.tls is None or end.tls.peer_principal() != principal):
            log.warning("tcp upstream %s is not %s", choice.address, principal)
            end.abort()
            return None
        if end.transport is not None:
            with contextlib.suppress(OSError):
                sock = end.transport.get_extra_info("socket")
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return end

    def _tls(self) -> tuple[ssl.SSLContext | None, str]:
        """The client context and the SPIFFE ID the upstream must have (none: plain)."""
        state = self._holder.current
        security = self._security
        if state is None or security.keeper is None:
            return None, ""
        if effective_mode(state.config, self.destination) == "DISABLE":
            return None, ""
        context = security.client_context()
        if context is None:
            return None, ""
        return context, spiffe_id(state.config.mesh.trustDomain, self.destination)


def _bound(host: str, port: int) -> socket.socket:
    """A listening socket with SO_REUSEPORT (hot restart), as every sidecar listener."""
    try:
        return listen_socket(host, port)
    except OSError as exc:
        raise DeployError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _refuse(down: End, counted: _Counted, labels: TcpConnectionLabels) -> None:
    """Count a connection that got no upstream (flags say why) and reset it."""
    counted.open(labels.key())
    down.abort()
    counted.close()


def _with(
    labels: TcpConnectionLabels, *, flags: str | None = None, version: str | None = None
) -> TcpConnectionLabels:
    return TcpConnectionLabels(
        labels.reporter,
        labels.source_workload,
        labels.destination_workload,
        labels.destination_service,
        version if version is not None else labels.destination_version,
        flags if flags is not None else labels.response_flags,
        labels.connection_security_policy,
    )


class TcpInbound:
    """The server side: mesh connections to this tcp service, piped to its app."""

    def __init__(
        self,
        identity: Identity,
        app: tuple[str, int],
        security: MeshSecurity,
        metrics: MeshMetrics,
        connect_timeout: float = 1.0,
        idle_timeout: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._identity = identity
        self._app = app
        self._security = security
        self._metrics = metrics
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        """The service's idleTimeout in the config running now (0: none)."""
        self._tasks = _Tasks()

    def listen(self, host: str, port: int) -> SniffingListener:
        listener = _TcpSniffingListener(
            _bound(host, port),
            self._accepted,
            self._security.inbound_mode,
            self._security.credentials,
            handshake_timeout=HANDSHAKE_TIMEOUT_S,
        )
        self._security.listener = listener.stats
        return listener

    def _accepted(self, context: ssl.SSLContext | None) -> End:
        counted = _Counted(self._metrics)
        down = End(TlsSession(context, server_side=True) if context else None, counted.received)
        self._tasks.start(self._serve(down, counted))
        return down

    async def _serve(self, down: End, counted: _Counted) -> None:
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                await down.ready
        except (TimeoutError, ConnectionError):
            down.abort()
            return
        me = self._identity
        principal = down.tls.peer_principal() if down.tls is not None else ""
        labels = TcpConnectionLabels(
            "destination",
            workload_of(principal) or "unknown",
            me.service,
            me.service,
            me.version,
            connection_security_policy="mutual_tls" if down.tls is not None else "none",
        )
        loop = asyncio.get_running_loop()
        up = End(on_count=counted.sent)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.create_connection(lambda: up, *self._app)
        except (OSError, TimeoutError) as exc:
            log.debug("tcp connect to the app failed: %s", exc)
            _refuse(down, counted, _with(labels, flags=CONNECT_FAILURE))
            return
        counted.open(labels.key())
        await _pipe(down, up, counted, self._idle_timeout())


class _TcpSniffingListener(SniffingListener):
    """The sniffing inbound listener, handing sockets to an `End` that does TLS itself."""

    def __init__(
        self,
        sock: socket.socket,
        make_end: Callable[[ssl.SSLContext | None], End],
        mode: Callable[[], MtlsMode],
        credentials: Callable[[], Credentials | None],
        handshake_timeout: float,
    ) -> None:
        super().__init__(sock, End, mode, credentials, handshake_timeout)
        self._make_end = make_end

    async def _connect(self, conn: socket.socket, context: ssl.SSLContext | None) -> None:
        loop = asyncio.get_running_loop()
        end = self._make_end(context)
        try:
            await loop.connect_accepted_socket(lambda: end, conn)
        except OSError:
            with contextlib.suppress(OSError):
                conn.close()
            return
        if context is None:
            self.stats.plain += 1
            return
        try:
            await end.ready
            self.stats.tls += 1
        except ConnectionError:
            self.stats.handshake_failures += 1


class TcpListeners:
    """The sidecar's L4 listeners: inbound when its service is tcp, one outbound per
    `--tcp-outbound`. The service's protocol is read once, from the first config."""

    def __init__(
        self,
        options: SidecarOptions,
        holder: StateHolder,
        security: MeshSecurity,
        metrics: MeshMetrics,
    ) -> None:
        self._options = options
        self._holder = holder
        self._security = security
        self._metrics = metrics

    def inbound(self) -> SniffingListener | None:
        """The inbound listener of a tcp service (None: the service speaks HTTP)."""
        state = self._holder.current
        o = self._options
        entry = state.config.services.get(o.service) if state is not None else None
        if entry is None or entry.protocol != "tcp":
            return None
        identity = Identity(o.service, o.instance, o.version)
        timeout = entry.policy.trafficPolicy.connectionPool.tcp.connectTimeout
        inbound = TcpInbound(
            identity,
            (HOST, o.app_port),
            self._security,
            self._metrics,
            connect_timeout=timeout,
            idle_timeout=self._own_idle_timeout,
        )
        return inbound.listen(o.host, o.inbound_port)

    def _own_idle_timeout(self) -> float:
        """The idleTimeout of this sidecar's own service in the config running now."""
        state = self._holder.current
        entry = state.config.services.get(self._options.service) if state is not None else None
        if entry is None:
            return TcpSettings().idleTimeout
        return entry.policy.trafficPolicy.connectionPool.tcp.idleTimeout

    async def outbound(self) -> list[asyncio.Server]:
        """The app's L4 listeners. They bind `--host` (loopback, or 0.0.0.0 in a
        container): the ingress's are where the load's TCP routes enter, from outside."""
        servers = []
        for service, port in self._options.tcp_outbound:
            proxy = TcpOutbound(service, self._holder, self._security, self._metrics)
            servers.append(await proxy.listen(self._options.host, port))
        return servers
