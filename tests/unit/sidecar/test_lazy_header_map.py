"""LazyHeaderMap: the request's headers as route and fault matching read them, made late."""

from __future__ import annotations

from mesh_runtime.sidecar.wire import LazyHeaderMap, header_map

HEADERS = [(b"host", b"catalog"), (b"x-user", b"alice"), (b"x-user", b"bob")]


def test_reads_like_the_eager_map() -> None:
    """Look-ups, membership, length and iteration give what header_map gives (first wins)."""
    lazy = LazyHeaderMap(HEADERS)
    assert lazy.get("x-user") == "alice" and "host" in lazy and "x-none" not in lazy
    assert dict(lazy) == header_map(HEADERS) and len(lazy) == 2


def test_headers_are_decoded_only_when_looked_up() -> None:
    """Until a matcher asks, nothing is built; a header added before the first look-up shows."""
    headers = list(HEADERS)
    lazy = LazyHeaderMap(headers)
    headers.append((b"x-late", b"1"))
    assert lazy["x-late"] == "1"
