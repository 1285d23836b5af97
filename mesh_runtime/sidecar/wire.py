"""Header rewriting at the sidecar's two hops: what the upstream and the app receive."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping
from typing import Final

from mesh_runtime.sidecar.http1 import Headers, Request
from mesh_runtime.sidecar.http1_wire import HOP_BY_HOP, end_to_end

PEER_HEADER: Final = b"x-meshproof-peer"
"""The calling service's name, sent sidecar to sidecar (Istio's peer metadata exchange)."""

_REPLACED: Final = frozenset({b"traceparent", PEER_HEADER})
_DROPPED: Final = HOP_BY_HOP | _REPLACED
"""Never passed upstream: hop-by-hop headers and those the mesh sets itself."""


def service_of_host(host: bytes | None) -> str:
    """'catalog' from a Host header 'catalog' or 'catalog:8080'."""
    if not host:
        return ""
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text
    return text.partition(":")[0]


def header_map(headers: Headers) -> dict[str, str]:
    """Lower-case name -> first value, as route and fault matching read headers."""
    out: dict[str, str] = {}
    for key, value in headers:
        name = key.decode("latin-1")
        if name not in out:
            out[name] = value.decode("latin-1")
    return out


class LazyHeaderMap(Mapping[str, str]):
    """`header_map` of a request, made on the first look-up: most routes and faults match
    no header, and then the request's headers are never decoded."""

    __slots__ = ("_headers", "_map")

    def __init__(self, headers: Headers) -> None:
        self._headers = headers
        self._map: dict[str, str] | None = None

    def _built(self) -> dict[str, str]:
        if self._map is None:
            self._map = header_map(self._headers)
        return self._map

    def __getitem__(self, name: str) -> str:
        return self._built()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


_REQUEST_IDS: Final = random.Random(os.urandom(16))
"""Request ids come from a generator seeded from the OS once (an os.urandom per request
was a getrandom system call on every request), never from the sidecar's seeded one:
two sidecars must not collide."""


def new_request_id() -> bytes:
    """32 lower-case hex digits (128 random bits)."""
    return _REQUEST_IDS.getrandbits(128).to_bytes(16, "big").hex().encode()


def ensure_request_id(request: Request) -> bytes:
    """The request's x-request-id, added first if it has none (the same for every try)."""
    value = request.header(b"x-request-id")
    if value is None:
        value = new_request_id()
        request.headers.append((b"x-request-id", value))
    return value


def upstream_headers(request: Request, traceparent: bytes | None, source: str | None) -> Headers:
    """End-to-end headers plus the mesh's own: trace context and the peer's name."""
    # Hop-by-hop and the mesh's own names dropped in one pass (two filtered copies made and
    # freed a list and a tuple a header).
    headers = end_to_end(request.headers, _DROPPED)
    if traceparent is not None:
        headers.append((b"traceparent", traceparent))
    if source:
        headers.append((PEER_HEADER, source.encode()))
    return headers
