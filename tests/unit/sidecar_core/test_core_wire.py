"""Header rewriting between hops, without sockets."""

from __future__ import annotations

from mesh_runtime.sidecar.http1 import Request
from mesh_runtime.sidecar.wire import (
    PEER_HEADER,
    ensure_request_id,
    header_map,
    new_request_id,
    service_of_host,
    upstream_headers,
)


def test_service_of_host_strips_port_and_case() -> None:
    """'Catalog:8080' names the service 'catalog'; no Host names none."""
    assert service_of_host(b"Catalog:8080") == "catalog"
    assert service_of_host(b"cart") == "cart"
    assert service_of_host(None) == ""


def test_header_map_keeps_the_first_value() -> None:
    """Route matching sees the first value of a repeated header."""
    assert header_map([(b"x-a", b"1"), (b"x-a", b"2")]) == {"x-a": "1"}


def test_request_id_is_added_once_and_kept() -> None:
    """A request without x-request-id gets one, and the same one on every later call."""
    request = Request(b"GET", b"/", [(b"host", b"catalog")])
    first = ensure_request_id(request)
    assert len(first) == 32 and first == first.lower() and int(first, 16) >= 0
    assert ensure_request_id(Request(b"GET", b"/", [])) != first  # random, not fixed
    assert ensure_request_id(request) == first
    given = Request(b"GET", b"/", [(b"x-request-id", b"abc")])
    assert ensure_request_id(given) == b"abc"


def test_upstream_headers_replace_trace_context_and_name_the_peer() -> None:
    """The old traceparent and any spoofed peer header are replaced; hop headers dropped."""
    request = Request(
        b"GET",
        b"/",
        [
            (b"host", b"catalog"),
            (b"traceparent", b"old"),
            (PEER_HEADER, b"spoof"),
            (b"connection", b"keep-alive"),
            (b"x-user", b"7"),
        ],
    )
    headers = upstream_headers(request, b"new", "frontend")
    assert (b"traceparent", b"new") in headers
    assert (b"traceparent", b"old") not in headers
    assert (PEER_HEADER, b"frontend") in headers
    assert (PEER_HEADER, b"spoof") not in headers
    assert (b"x-user", b"7") in headers
    assert all(name != b"connection" for name, _ in headers)


def test_without_tracing_the_callers_traceparent_is_not_duplicated() -> None:
    """With no trace context at all, the sidecar invents none when tracing is off."""
    request = Request(b"GET", b"/", [(b"host", b"catalog")])
    headers = upstream_headers(request, None, None)
    assert [name for name, _ in headers] == [b"host"]


def test_request_ids_are_128_random_bits_in_hex() -> None:
    """x-request-id the sidecar adds: 32 lower-case hex digits, a fresh one each time."""
    ids = [new_request_id() for _ in range(1000)]
    assert all(len(i) == 32 and i == i.lower() and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == len(ids)
