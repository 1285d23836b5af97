"""Our Toxiproxy client against the real toxiproxy-server (v2.5)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from mesh_runtime.errors import DeployError, ToxiproxyError
from mesh_runtime.runtimes.plan import ProcessSpec
from mesh_runtime.runtimes.ports import port_allocator
from mesh_runtime.runtimes.supervisor import Supervisor
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient, toxiproxy_command
from mesh_runtime.tools import find_binary

pytestmark = pytest.mark.integration


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyClient]:
    with port_allocator() as allocate:
        port = allocate()
    command = toxiproxy_command(str(find_binary("toxiproxy-server")), port)
    spec = ProcessSpec("toxiproxy", "toxiproxy", tuple(command), {"port": port})
    supervisor = Supervisor(tmp_path_factory.mktemp("toxiproxy") / "logs")
    (record,) = supervisor.start_and_wait([spec], timeout=15)
    yield ToxiproxyClient(f"http://127.0.0.1:{port}")
    supervisor.stop(record, grace=2)


@pytest.fixture
def proxy(client: ToxiproxyClient, upstream: str) -> Iterator[str]:
    created = client.create_proxy("edge--b-0", "127.0.0.1:0", upstream)
    yield f"http://{created['listen']}/"
    client.delete_proxy("edge--b-0")


def elapsed_get(url: str) -> float:
    began = time.monotonic()
    assert requests.get(url, timeout=5).text == "hello"
    return time.monotonic() - began


def test_version_is_the_pinned_server(client: ToxiproxyClient) -> None:
    """The server the runtime starts is Toxiproxy 2.5."""
    assert client.version().startswith("2.5")


def test_proxy_forwards_and_is_listed(client: ToxiproxyClient, proxy: str, upstream: str) -> None:
    """A created proxy forwards to its upstream and shows in proxies()."""
    assert elapsed_get(proxy) < 1
    listed = client.proxies()["edge--b-0"]
    assert listed["upstream"] == upstream and listed["enabled"] is True


def test_latency_toxic_adds_latency_until_removed(client: ToxiproxyClient, proxy: str) -> None:
    """A 300 ms latency toxic slows each response; removing it removes the delay."""
    client.add_toxic("edge--b-0", name="slow", type="latency", attributes={"latency": 300})
    assert [t["name"] for t in client.toxics("edge--b-0")] == ["slow"]
    assert elapsed_get(proxy) >= 0.3
    client.remove_toxic("edge--b-0", "slow")
    assert client.toxics("edge--b-0") == []
    assert elapsed_get(proxy) < 0.3


def test_disabled_proxy_refuses_connections(client: ToxiproxyClient, proxy: str) -> None:
    """set_enabled(False) closes the listener; True opens it again."""
    client.set_enabled("edge--b-0", False)
    with pytest.raises(requests.ConnectionError):
        requests.get(proxy, timeout=2)
    client.set_enabled("edge--b-0", True)
    assert elapsed_get(proxy) < 1


def test_reset_removes_toxics_and_enables(client: ToxiproxyClient, proxy: str) -> None:
    """reset() leaves every proxy enabled and without toxics."""
    client.add_toxic("edge--b-0", name="cut", type="reset_peer", attributes={"timeout": 0})
    client.set_enabled("edge--b-0", False)
    client.reset()
    assert client.toxics("edge--b-0") == []
    assert client.proxies()["edge--b-0"]["enabled"] is True


def test_errors_are_translated(client: ToxiproxyClient, proxy: str) -> None:
    """Server errors become ToxiproxyError/DeployError lines carrying the server's message."""
    with pytest.raises(ToxiproxyError, match="no proxy named 'nope'"):
        client.add_toxic("nope", name="x", type="latency", attributes={"latency": 1})
    with pytest.raises(ToxiproxyError, match="unknown toxic type"):
        client.add_toxic("edge--b-0", name="x", type="earthquake")
    client.add_toxic("edge--b-0", name="x", type="latency", attributes={"latency": 1})
    with pytest.raises(ToxiproxyError, match="toxic already exists"):
        client.add_toxic("edge--b-0", name="x", type="latency", attributes={"latency": 1})
    with pytest.raises(ToxiproxyError, match="toxic not found"):
        client.remove_toxic("edge--b-0", "y")
    listen = client.proxies()["edge--b-0"]["listen"]
    with pytest.raises(DeployError, match="address already in use"):
        client.create_proxy("other", listen, "127.0.0.1:1")
    with pytest.raises(DeployError, match="no proxy named"):
        client.delete_proxy("other")


def test_unreachable_server_is_a_clear_error() -> None:
    """A client pointed at a closed port fails with one line, not a traceback."""
    with port_allocator() as allocate:
        port = allocate()
    with pytest.raises(DeployError, match="toxiproxy"):
        ToxiproxyClient(f"http://127.0.0.1:{port}").proxies()
