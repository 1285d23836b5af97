"""The load driver's HTTP/1.1 client against a real server on 127.0.0.1: framings,
keep-alive, and what it does when the server misbehaves."""

from __future__ import annotations

import contextlib
import gc
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import httptools
import pytest

from harness.load.http1_client import ClosedBeforeAnswer, KeptConnection, _Answer
from harness.load.readable import GreenReadable, answers_waiting
from harness.load.records import error_text

pytestmark = pytest.mark.integration

ANSWERS = {
    b"/length": b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
    b"/chunked": b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    b"/close": b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 2\r\n\r\nno",
    b"/garbage": b"this is not HTTP\r\n\r\n",
}
SLOW_S = 0.25
"""How long `/slow` takes to answer."""


class _Server(socketserver.StreamRequestHandler):
    """Answers each request on the connection by its path (see `ANSWERS`); records the
    request heads it read."""

    heads: list[bytes] = []

    def handle(self) -> None:
        while True:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = self.rfile.readline()
                if not line:
                    return
                head += line
            self.heads.append(head)
            method, path = head.split(b" ")[:2]
            if length := _content_length(head):
                self.rfile.read(length)
            if path == b"/until-close":
                self.wfile.write(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 70_000)
                return
            if path == b"/silent-close":
                return
            if path == b"/hang":
                time.sleep(3)
                return
            if path == b"/slow":
                time.sleep(SLOW_S)
                path = b"/length"
            answer = ANSWERS[path]
            if method == b"HEAD":
                answer = answer.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
            self.wfile.write(answer)
            if path == b"/close":
                return


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


@pytest.fixture
def port() -> Iterator[int]:
    _Server.heads = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Server)
    server.daemon_threads = True
    # polled each 50 ms: shutdown() waits for the next poll (0.5 s each test by default)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_content_length_and_chunked_answers_are_counted_on_one_kept_connection(port: int) -> None:
    http = KeptConnection("127.0.0.1", port, timeout=5)
    assert http.request("GET", "/length", {}, None) == (200, 5)
    assert http.request("POST", "/chunked", {"traceparent": "00-ab"}, b"body") == (201, 7)
    assert http.request("GET", "/length", {}, None) == (200, 5)
    assert http.connects == 1 and http.stale_retries == 0
    post = _Server.heads[1]
    assert post.startswith(b"POST /chunked HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}\r\n".encode() in post
    assert b"traceparent: 00-ab\r\n" in post and b"Content-Length: 4\r\n" in post


def test_a_name_is_resolved_and_a_refused_address_is_an_error_with_nothing_left_open(
    port: int,
) -> None:
    """An address literal is connected to without a resolver, a name through it; a port
    nobody listens on is ConnectionRefusedError either way, and no socket stays open."""
    named = KeptConnection("localhost", port, timeout=5, host_header="x")
    assert named.request("GET", "/length", {}, None) == (200, 5)
    named.close()
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    for host in ("127.0.0.1", "localhost"):
        http = KeptConnection(host, closed, timeout=5)
        with pytest.raises(ConnectionRefusedError):
            http.request("GET", "/length", {}, None)
        assert http.fileno() == -1 and http.connects == 0


def test_a_host_header_given_replaces_the_default_one(port: int) -> None:
    http = KeptConnection("127.0.0.1", port, timeout=5)
    http.request("GET", "/length", {"Host": "shop.example"}, None)
    assert _Server.heads[0].count(b"Host:") == 1 and b"Host: shop.example\r\n" in _Server.heads[0]


def test_a_head_answer_ends_with_its_head_whatever_its_content_length(port: int) -> None:
    http = KeptConnection("127.0.0.1", port, timeout=5)
    assert http.request("HEAD", "/length", {}, None) == (200, 0)
    assert http.request("GET", "/length", {}, None) == (200, 5)
    assert http.connects == 1


def test_connection_close_and_read_until_close_answers_end_the_connection(port: int) -> None:
    http = KeptConnection("127.0.0.1", port, timeout=5)
    assert http.request("GET", "/close", {}, None) == (503, 2)
    assert http.request("GET", "/until-close", {}, None) == (200, 70_000)
    assert http.request("GET", "/length", {}, None) == (200, 5)
    assert http.connects == 3 and http.stale_retries == 0


def test_a_closed_fresh_connection_is_an_error_not_a_retry(port: int) -> None:
    http = KeptConnection("127.0.0.1", port, timeout=5)
    with pytest.raises(ClosedBeforeAnswer) as raised:
        http.request("GET", "/silent-close", {}, None)
    assert http.stale_retries == 0 and error_text(raised.value).startswith("ClosedBeforeAnswer")


def test_a_garbled_answer_is_an_error_and_the_connection_is_dropped(port: int) -> None:
    http = KeptConnection("127.0.0.1", port, timeout=5)
    with pytest.raises(httptools.HttpParserError):
        http.request("GET", "/garbage", {}, None)
    assert http.request("GET", "/length", {}, None) == (200, 5)
    assert http.connects == 2 and http.stale_retries == 0


def test_a_timeout_on_a_kept_connection_is_not_retried(port: int) -> None:
    http = KeptConnection("127.0.0.1", port, timeout=0.3)
    http.request("GET", "/length", {}, None)
    began = time.monotonic()
    with pytest.raises(socket.timeout) as raised:
        http.request("GET", "/hang", {}, None)
    assert time.monotonic() - began < 2.0 and http.stale_retries == 0
    assert error_text(raised.value) == "timeout"


def test_answers_are_freed_without_the_garbage_collector(port: int) -> None:
    """A request leaves no cycle behind (its parser and its answer): with the collector off,
    no answer outlives its request, so a busy worker's collector has nothing per request
    to find."""
    http = KeptConnection("127.0.0.1", port, timeout=5)
    gc.collect()
    gc.disable()
    try:
        for path in ("/length", "/chunked", "/length", "/close", "/garbage"):
            with contextlib.suppress(httptools.HttpParserError):
                http.request("GET", path, {}, None)
        left = [o for o in gc.get_objects() if isinstance(o, _Answer)]
    finally:
        gc.enable()
    assert left == []


def test_waiting_on_a_green_watcher_reads_every_framing_and_times_out(port: int) -> None:
    """With `GreenReadable` (the workers' way: wait on the socket's watcher, then read) the
    answers are read as without it: framings, HEAD, read-until-close over several reads,
    a fresh connection closed, a garbled answer; an answer that does not come is a
    `TimeoutError` after the timeout, not a retry."""
    http = KeptConnection("127.0.0.1", port, timeout=0.3, readable=GreenReadable)
    assert http.request("GET", "/length", {}, None) == (200, 5)
    assert http.request("POST", "/chunked", {}, b"body") == (201, 7)
    assert http.request("HEAD", "/length", {}, None) == (200, 0)
    assert http.request("GET", "/until-close", {}, None) == (200, 70_000)
    assert http.request("GET", "/close", {}, None) == (503, 2)
    with pytest.raises(ClosedBeforeAnswer):
        http.request("GET", "/silent-close", {}, None)
    with pytest.raises(httptools.HttpParserError):
        http.request("GET", "/garbage", {}, None)
    assert http.request("GET", "/length", {}, None) == (200, 5)
    began = time.monotonic()
    with pytest.raises(TimeoutError) as raised:
        http.request("GET", "/hang", {}, None)
    assert 0.25 < time.monotonic() - began < 2.0 and error_text(raised.value) == "timeout"
    assert http.connects == 5 and http.stale_retries == 0
    http.close()


def test_each_wait_on_a_green_watcher_gets_the_whole_timeout(port: int) -> None:
    """Answers that each come well within the timeout are read however long their waits
    add up to on one kept connection: a `GreenReadable`'s timer starts afresh each wait.
    (Restarted with gevent.Timeout's cancel and start, libev went on with what was left of
    its time: once the waits here added up to 1 s, the next was a TimeoutError.)"""
    http = KeptConnection("127.0.0.1", port, timeout=1.0, readable=GreenReadable)
    for _ in range(6):  # 6 x 0.25 s of waiting on a 1 s timeout
        assert http.request("GET", "/slow", {}, None) == (200, 5)
    assert http.connects == 1
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        http.request("GET", "/hang", {}, None)
    assert 0.95 < time.monotonic() - began < 2.5  # a wait that runs out still does
    http.close()


def test_a_prepared_request_goes_out_with_each_sends_own_header_lines(port: int) -> None:
    """`prepare` once, `send` with different lines: each request carries its own lines
    among the prepared headers, then its body (a load route's requests and their
    traceparents)."""
    http = KeptConnection("127.0.0.1", port, timeout=5)
    prepared = http.prepare("POST", "/length", {"x-route": "r"}, b"body")
    assert http.send(prepared, "traceparent: 00-aa\r\n") == (200, 5)
    assert http.send(prepared, "traceparent: 00-bb\r\n") == (200, 5)
    first, second = _Server.heads
    assert first.startswith(b"POST /length HTTP/1.1\r\n") and b"x-route: r\r\n" in first
    assert b"Content-Length: 4\r\n" in first and first.endswith(b"traceparent: 00-aa\r\n\r\n")
    assert second.endswith(b"traceparent: 00-bb\r\n\r\n") and b"00-aa" not in second
    assert http.connects == 1


def test_answers_waiting_counts_the_connections_whose_answer_is_back_unread(port: int) -> None:
    """Of three kept connections, one idle, one whose request's answer came back and one
    still waiting for its answer, one has an answer waiting; once it is read, none."""
    idle, answered, waiting = (KeptConnection("127.0.0.1", port, timeout=5) for _ in range(3))
    for http in (idle, answered, waiting):
        assert http.request("GET", "/length", {}, None) == (200, 5)
    assert answers_waiting([idle.fileno(), answered.fileno(), waiting.fileno()]) == 0
    answered_sock, waiting_sock = answered._sock, waiting._sock
    answered_sock.sendall(b"GET /length HTTP/1.1\r\nHost: x\r\n\r\n")
    waiting_sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    deadline = time.monotonic() + 5
    while answers_waiting([answered.fileno()]) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert answers_waiting([idle.fileno(), answered.fileno(), waiting.fileno()]) == 1
    assert answered_sock.recv(4096).endswith(b"hello")
    assert answers_waiting([idle.fileno(), answered.fileno(), waiting.fileno()]) == 0
    assert answers_waiting([]) == 0
    for http in (idle, answered, waiting):
        http.close()
    assert idle.fileno() == -1
