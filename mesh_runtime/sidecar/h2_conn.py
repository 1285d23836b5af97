"""The h2 state machine both ends of the sidecar's HTTP/2 connections run.

h2 remembers how each closed stream ended, so that a frame arriving late for one (a
WINDOW_UPDATE crossing our END_STREAM, DATA after a reset) is handled as RFC 9113 says
rather than as a protocol error. It keeps the last 65 536 of them a connection, about
90 bytes each: a pooled connection that carries a gRPC call after another grows by
~6 MB before it levels off, per connection (the mesh bench's gRPC pair: the server
sidecar 35 -> 43 MB over 38 400 calls and still climbing). `MeshH2Connection` keeps the
last `CLOSED_STREAMS_KEPT`, many more than a connection has open at once, so late
frames are still recognised. It stays out of the compiled modules (`native`): it is a
subclass of the interpreted library's class.
"""

from __future__ import annotations

from h2.connection import H2Connection

CLOSED_STREAMS_KEPT = 1024
"""How many closed streams a connection remembers (h2's default: 65 536)."""


class MeshH2Connection(H2Connection):  # type: ignore[misc]
    MAX_CLOSED_STREAMS = CLOSED_STREAMS_KEPT
