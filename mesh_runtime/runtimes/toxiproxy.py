"""Toxiproxy: the server's command line, and meshproof's one client for its API.

`ToxiproxyClient` is the only place that touches the toxiproxy-python package. That
package keeps the server's host and port as class attributes of `APIConsumer` (process
globals), so every call here sets them under one lock and then calls the library. Where
the library is broken against the v2.5 server, the HTTP API is called with `requests`
directly; each such place says why. (The library sets no timeout on its requests; the
server is a local process the runtime started, and `version()` is checked first.) Library
and HTTP errors become DeployError (proxy set-up, done by the runtime) or ToxiproxyError
(toxics and enabling, asked for by the harness's fault injectors).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.proxy import Proxy

from mesh_runtime.errors import DeployError, MeshproofError, ToxiproxyError

T = TypeVar("T")

TOXIC_TYPES = frozenset(
    {"latency", "down", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"}
)
_LIBRARY_ERRORS = (ProxyExists, NotFound, InvalidToxic, requests.RequestException, KeyError)

# Guards toxiproxy-python's process-global host/port (APIConsumer.host/.port) for the
# length of one call; it has to be as global as the state it guards.
_LIBRARY_LOCK = threading.Lock()


def toxiproxy_command(binary: str, port: int, host: str = "127.0.0.1") -> list[str]:
    return [binary, "-host", host, "-port", str(port)]


class ToxiproxyClient:
    """A Toxiproxy server's API at `base_url` (e.g. 'http://127.0.0.1:8474')."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        parts = urlsplit(base_url)
        if not parts.hostname or not parts.port:
            raise DeployError(
                f"toxiproxy: expected a URL like http://127.0.0.1:8474, got {base_url!r}"
            )
        self.base_url = base_url.rstrip("/")
        self._host = parts.hostname
        self._port = parts.port
        self._timeout = timeout

    # --- proxies (the runtime's set-up) --------------------------------------------------

    def create_proxy(
        self, name: str, listen: str, upstream: str, enabled: bool = True
    ) -> dict[str, Any]:
        """Create a proxy; its JSON (with the actual listen address) is returned."""
        # The library's Toxiproxy.create() builds a Proxy from whatever the server answers,
        # so a server error (listen address in use: 500) surfaces as KeyError('name') and
        # the server's message is lost. The HTTP API is used directly to keep it.
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        response = self._http("post", "/proxies", DeployError, f"create proxy {name}", json=body)
        result: dict[str, Any] = response.json()
        return result

    def delete_proxy(self, name: str) -> None:
        def call() -> None:
            self._proxy(name, DeployError).destroy()

        self._call(call, DeployError, f"delete proxy {name}")

    def proxies(self) -> dict[str, dict[str, Any]]:
        """Every proxy by name: {name, listen, upstream, enabled}."""

        def call() -> dict[str, dict[str, Any]]:
            return {name: _proxy_dict(proxy) for name, proxy in Toxiproxy().proxies().items()}

        return self._call(call, DeployError, "list proxies")

    def version(self) -> str:
        response = self._http("get", "/version", DeployError, "version")
        return response.text.strip()

    # --- faults (the harness's injectors) ------------------------------------------------

    def add_toxic(
        self,
        proxy: str,
        *,
        name: str,
        type: str,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        """Add a toxic, e.g. type='latency', attributes={'latency': 100, 'jitter': 10}."""
        if type not in TOXIC_TYPES:
            known = ", ".join(sorted(TOXIC_TYPES))
            raise ToxiproxyError(f"toxiproxy: unknown toxic type {type!r} (known: {known})")
        if stream not in ("upstream", "downstream"):
            raise ToxiproxyError(
                f"toxiproxy: stream must be upstream or downstream, got {stream!r}"
            )

        def call() -> None:
            self._proxy(proxy, ToxiproxyError).add_toxic(
                name=name, type=type, stream=stream, toxicity=toxicity, attributes=attributes or {}
            )

        self._call(call, ToxiproxyError, f"add toxic {name} to {proxy}")

    def remove_toxic(self, proxy: str, name: str) -> None:
        def call() -> None:
            self._proxy(proxy, ToxiproxyError).destroy_toxic(name)

        self._call(call, ToxiproxyError, f"remove toxic {name} from {proxy}")

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        def call() -> list[dict[str, Any]]:
            found = self._proxy(proxy, ToxiproxyError).toxics()
            return [dict(vars(toxic)) for toxic in found.values()]

        return self._call(call, ToxiproxyError, f"list toxics of {proxy}")

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Disable (drop connections, stop listening) or enable a proxy."""

        def call() -> None:
            target = self._proxy(proxy, ToxiproxyError)
            if enabled:
                target.enable()
            else:
                target.disable()

        self._call(call, ToxiproxyError, f"{'enable' if enabled else 'disable'} proxy {proxy}")

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call(lambda: Toxiproxy().reset(), ToxiproxyError, "reset")

    # --- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _library(self) -> Iterator[None]:
        with _LIBRARY_LOCK:
            APIConsumer.host = self._host
            APIConsumer.port = self._port
            yield

    def _call(self, call: Callable[[], T], error: type[MeshproofError], what: str) -> T:
        try:
            with self._library():
                return call()
        except MeshproofError:
            raise
        except _LIBRARY_ERRORS as exc:
            raise error(f"toxiproxy {self.base_url}: {what}: {_message(exc)}") from exc

    def _proxy(self, name: str, error: type[MeshproofError]) -> Proxy:
        """The library's Proxy object for `name` (call only inside `_library()`)."""
        proxy = Toxiproxy().get_proxy(name)
        if proxy is None:
            raise error(f"toxiproxy {self.base_url}: no proxy named {name!r}")
        return proxy

    def _http(
        self, method: str, path: str, error: type[MeshproofError], what: str, **kwargs: Any
    ) -> requests.Response:
        try:
            response = requests.request(
                method, self.base_url + path, timeout=self._timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise error(f"toxiproxy {self.base_url}: {what}: {exc}") from exc
        if response.status_code >= 300:
            raise error(f"toxiproxy {self.base_url}: {what}: {_body_error(response)}")
        return response


def _proxy_dict(proxy: Proxy) -> dict[str, Any]:
    return {
        "name": proxy.name,
        "listen": proxy.listen,
        "upstream": proxy.upstream,
        "enabled": proxy.enabled,
    }


def _message(exc: BaseException) -> str:
    """The server's error text from a library exception (it carries the raw body)."""
    arg = exc.args[0] if exc.args else exc
    if isinstance(arg, bytes):
        arg = arg.decode("utf-8", errors="replace")
    text = str(arg).strip()
    if text.startswith("{"):
        try:
            return str(json.loads(text).get("error", text))
        except ValueError:
            return text
    return text or type(exc).__name__


def _body_error(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", response.text.strip()))
    except ValueError:
        return f"HTTP {response.status_code} {response.text.strip()[:200]}"
