"""One keep-alive HTTP/1.1 connection of a Locust user: a socket and httptools' parser.

The load driver's requests are simple (a method, a path, a few headers, a small body), so
the client is too: the request goes out in one `send`, the answer is parsed by httptools
(the C parser the sidecar uses: Content-Length, chunked and read-until-close bodies) as it
arrives, and the body is counted, not kept. geventhttpclient's `HTTPClient`, used before,
was 69 % of a worker's samples at 8 000 RPS (its pool's liveness `select`, header objects,
response wrappers, `sendall`'s timeout and buffer-size calls); a worker on this client sends
about 1.6 times the requests per CPU-second (`python -m harness.bench.load`).

As Go's net/http, browsers and Envoy do, a request that fails on a kept connection before
any byte of its answer arrived (the server closed the connection while it sat idle: a
draining sidecar does) is sent once more on a new connection when its method is
idempotent; `stale_retries` counts those. It uses the standard `socket` and `ssl`, which
gevent's monkey-patching makes cooperative in the Locust processes.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import httptools

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RECV_BYTES = 65536
STALE = (ConnectionError, ssl.SSLEOFError)
"""What a kept connection the server closed raises on the next request (a timeout is not)."""


class Readable(Protocol):
    """Waits until a socket has something to read (`harness.load.readable.GreenReadable`)."""

    def wait(self) -> None: ...

    def close(self) -> None: ...


class ClosedBeforeAnswer(ConnectionError):
    """The server closed the connection before the answer was complete."""


class _Answer:
    """httptools callbacks for one response: the status and the body's length.

    The answer to a HEAD has no body whatever its Content-Length says, so it is complete
    with its head; one without Content-Length or chunked framing ends where the server
    closes the connection."""

    __slots__ = (
        "body_bytes",
        "complete",
        "framed",
        "head_only",
        "headers_done",
        "keep_alive",
        "parser",
        "received",
    )

    def __init__(self, head_only: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head_only = head_only
        self.keep_alive = False
        """httptools' verdict, taken while the message is current (it forgets it after)."""
        self.body_bytes = 0
        self.complete = False
        self.received = False
        self.headers_done = False
        self.framed = False

    def on_message_begin(self) -> None:
        self.received = True

    def on_header(self, name: bytes, _value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True
        if self.head_only:
            self.keep_alive = self.parser.should_keep_alive()
            self.complete = True

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True

    def ends_at_close(self) -> bool:
        """Whether the connection's end completes this answer (read-until-close framing)."""
        return self.headers_done and not self.framed


class PreparedRequest(NamedTuple):
    """A request's method, head (request line and header lines, not the blank line after
    them) and body, as `KeptConnection.send` takes them."""

    method: str
    head: bytes
    body: bytes | None


class KeptConnection:
    """Requests one after another on one kept connection to `host:port` (TLS when
    `ssl_context` is given), reconnecting when the server closed it.

    `readable(fileno, timeout)`, when given, makes what a plain connection waits on for
    its answers before each read (a TLS one reads and lets its socket wait)."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float,
        *,
        host_header: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
        readable: Callable[[int, float], Readable] | None = None,
    ) -> None:
        self._address = (host, port)
        self._family = _literal_family(host)
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._server_name = server_name or host
        default_port = 443 if ssl_context is not None else 80
        name = f"[{host}]" if ":" in host else host
        authority = host_header or (name if port == default_port else f"{name}:{port}")
        self._host_line = f"Host: {authority}\r\n"
        self._sock: Any = None
        self._make_readable = readable if ssl_context is None else None
        self._readable: Readable | None = None
        self.connects = 0
        """Connections opened, the first included."""
        self.stale_retries = 0
        """Requests sent again on a new connection because their kept one was closed."""

    def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, int]:
        """Send one request and read its whole answer: (status, body bytes)."""
        return self.send(self.prepare(method, target, headers, body))

    def prepare(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> PreparedRequest:
        """The request's bytes, made once for requests that differ only in header lines
        given to `send` (a load route's requests: only their traceparent)."""
        return PreparedRequest(method, self._head(method, target, headers, body or b""), body)

    def send(self, prepared: PreparedRequest, lines: str = "") -> tuple[int, int]:
        """Send `prepared` with the header `lines` (each ending in CRLF) added, and read its
        whole answer: (status, body bytes)."""
        method = prepared.method
        message = prepared.head + lines.encode("latin-1") + b"\r\n"
        if prepared.body:
            message += prepared.body
        reused = self._sock is not None
        answer = _Answer(method == "HEAD")
        try:
            return self._exchange(message, answer)
        except Exception as exc:
            self.close()
            stale = isinstance(exc, STALE) and not isinstance(exc, TimeoutError)
            if not (stale and reused and not answer.received and method in IDEMPOTENT):
                raise
        self.stale_retries += 1
        try:
            return self._exchange(message, _Answer(method == "HEAD"))
        except Exception:
            self.close()
            raise

    def connect(self) -> None:
        """Open the connection now (else the first request opens it, and waits for that)."""
        if self._sock is None:
            self._connect()

    def fileno(self) -> int:
        """The connection's socket descriptor; -1 while none is open."""
        return self._sock.fileno() if self._sock is not None else -1

    def close(self) -> None:
        if self._readable is not None:
            readable, self._readable = self._readable, None
            readable.close()
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()

    def _head(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> bytes:
        """The request line and header lines, without the blank line that ends them."""
        lines = [f"{method} {target} HTTP/1.1\r\n"]
        if not any(name.lower() == "host" for name in headers):
            lines.append(self._host_line)
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        if body or method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {len(body)}\r\n")
        return "".join(lines).encode("latin-1")

    def _exchange(self, message: bytes, answer: _Answer) -> tuple[int, int]:
        parser = answer.parser
        try:
            sock = self._sock if self._sock is not None else self._connect()
            sent = sock.send(message)  # a request fits the socket's buffer: one call, no loop
            if sent < len(message):
                sock.sendall(memoryview(message)[sent:])
            readable = self._readable
            while not answer.complete:
                if readable is not None:
                    readable.wait()
                data = sock.recv(RECV_BYTES)
                if not data:
                    if not answer.ends_at_close():
                        raise ClosedBeforeAnswer(
                            "the server closed the connection before the answer"
                        )
                    answer.keep_alive = False
                    break
                parser.feed_data(data)
        finally:
            # The parser holds the answer and the answer the parser: a cycle only the garbage
            # collector would free, one a request, which kept it collecting. Cut, reference
            # counting frees both at once.
            del answer.parser
        if not answer.keep_alive:
            self.close()
        return parser.get_status_code(), answer.body_bytes

    def _connect(self) -> Any:
        sock = open_socket(self._address, self._timeout, self._family)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl_context is not None:
            sock = self._ssl_context.wrap_socket(sock, server_hostname=self._server_name)
        if self._make_readable is not None:
            self._readable = self._make_readable(sock.fileno(), self._timeout)
        self._sock = sock
        self.connects += 1
        return sock


def _literal_family(host: str) -> int | None:
    """AF_INET / AF_INET6 for an IP address literal (the ingress of a local run:
    127.0.0.1), None for a name (or a scoped IPv6 address) that needs resolving."""
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        return None
    return socket.AF_INET6 if version == 6 else socket.AF_INET


def open_socket(address: tuple[str, int], timeout: float, family: int | None = None) -> Any:
    """`socket.create_connection(address, timeout)`, without its getaddrinfo for an
    address literal (`family`: `_literal_family(host)`, worked out when not given): in a
    Locust worker gevent's resolver hands every getaddrinfo to a thread and back, ~150-300
    us of the worker's CPU a connection (a worker that falls behind opens hundreds, a TCP
    route one a request)."""
    if family is None:
        family = _literal_family(address[0])
        if family is None:  # a name: resolved
            return socket.create_connection(address, timeout=timeout)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock
