"""Circuit breaking per upstream cluster, with Envoy's thresholds as Istio names them.

- `http.http2MaxRequests`: requests in flight to the whole cluster (Envoy max_requests);
- `http.http1MaxPendingRequests`: requests waiting for a pooled connection;
- `tcp.maxConnections`: connections open to the cluster.
A request over a request or pending limit is answered 503 at once with flag UO and counted
as an overflow. Hitting the connection limit is not an overflow: the request queues.
"""

from __future__ import annotations

from mesh_runtime.sidecar.meshconfig import ConnectionPool


class CircuitBreaker:
    """Counts requests in flight and overflows; limits come from a ConnectionPool."""

    __slots__ = ("_in_flight", "_max_connections", "_max_pending", "_max_requests", "_overflows")

    def __init__(self, pool: ConnectionPool) -> None:
        self._in_flight = 0
        self._overflows = 0
        self._max_requests = pool.http.http2MaxRequests
        self._max_pending = pool.http.http1MaxPendingRequests
        self._max_connections = pool.tcp.maxConnections

    def update(self, pool: ConnectionPool) -> None:
        """Apply a new policy; counts and overflows are kept."""
        self._max_requests = pool.http.http2MaxRequests
        self._max_pending = pool.http.http1MaxPendingRequests
        self._max_connections = pool.tcp.maxConnections

    def try_acquire_request(self) -> bool:
        """Admit one request; False (counted as overflow) when the cluster is at its limit."""
        if self._in_flight >= self._max_requests:
            self._overflows += 1
            return False
        self._in_flight += 1
        return True

    def release_request(self) -> None:
        """The admitted request ended."""
        if self._in_flight > 0:
            self._in_flight -= 1

    def may_queue(self, pending_now: int) -> bool:
        """Whether a request may wait for a connection; False (an overflow) otherwise."""
        if pending_now < self._max_pending:
            return True
        self._overflows += 1
        return False

    def may_open_connection(self, open_now: int) -> bool:
        """Whether another connection to the cluster may be opened."""
        return open_now < self._max_connections

    @property
    def in_flight(self) -> int:
        """Requests admitted by try_acquire_request and not yet released."""
        return self._in_flight

    @property
    def overflows(self) -> int:
        """Requests refused by the request or pending limit since start (flag UO)."""
        return self._overflows

    @property
    def max_connections(self) -> int:
        return self._max_connections

    @property
    def max_requests(self) -> int:
        return self._max_requests

    @property
    def max_pending(self) -> int:
        return self._max_pending
