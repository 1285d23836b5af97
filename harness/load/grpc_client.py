"""One gRPC load request: a unary call with grpcio on the connection's own channel.

Runs in a Locust worker: `enable_gevent()` must run in that process before its first
channel (grpcio then cooperates with gevent's loop). Each Locust user (a connection of
the schedule) keeps one channel per target with a subchannel pool of its own, so that
users do not share one HTTP/2 connection; the decisions are in `harness.load.grpc_reply`.
"""

from __future__ import annotations

import grpc

from harness.load.grpc_reply import grpc_outcome

CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.enable_http_proxy", 0),
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)


def enable_gevent() -> None:
    """Make grpcio cooperate with gevent (once per process, before any channel)."""
    from grpc.experimental import gevent as grpc_gevent

    grpc_gevent.init_gevent()


class GrpcChannels:
    """A connection's channels: one per (address, :authority)."""

    def __init__(self) -> None:
        self._channels: dict[tuple[str, str], grpc.Channel] = {}

    def get(self, address: str, authority: str) -> grpc.Channel:
        key = (address, authority)
        if key not in self._channels:
            options = (*CHANNEL_OPTIONS, ("grpc.default_authority", authority))
            self._channels[key] = grpc.insecure_channel(address, options=options)
        return self._channels[key]

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()


def grpc_exchange(
    channel: grpc.Channel,
    method: str,
    message: bytes,
    metadata: tuple[tuple[str, str], ...],
    timeout: float,
) -> tuple[int, int, str]:
    """(status, bytes received, error) of one unary call."""
    call = channel.unary_unary(method)
    try:
        answer = call(message, metadata=metadata, timeout=timeout)
    except grpc.RpcError as exc:
        status, error = grpc_outcome(exc.code().value[0], exc.details() or "")  # type: ignore[attr-defined]
        return status, 0, error
    return 200, len(answer), ""
