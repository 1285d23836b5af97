"""A shop service's call to a `protocol: grpc` callee, with grpcio over HTTP/2 cleartext.

One unary call of `SHOP_METHOD` whose message is JSON (`{"method", "path"}` of the
request being served) and whose metadata carries the trace context. In mesh mode the
channel goes to the sidecar's outbound listener with `:authority` = the callee's name
(the sidecar routes on it, as on `Host`); in no-mesh mode to an instance itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import grpc

SHOP_METHOD = "/meshproof.shop.Shop/Call"
MAX_MESSAGE = 32 * 1024 * 1024
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.enable_http_proxy", 0),  # 127.0.0.1 only, whatever the environment says
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
)


def call_message(method: str, path: str) -> bytes:
    return json.dumps({"method": method, "path": path}, separators=(",", ":")).encode()


def metadata_of(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Headers as gRPC metadata (names lower case, as HTTP/2 wants them)."""
    return tuple((name.lower(), value) for name, value in headers.items())


class GrpcChannels:
    """One channel per (address, authority), kept for the instance's life."""

    def __init__(self) -> None:
        self._channels: dict[tuple[str, str | None], grpc.aio.Channel] = {}

    def get(self, address: str, authority: str | None) -> grpc.aio.Channel:
        key = (address, authority)
        if key not in self._channels:
            options: list[tuple[str, int | str]] = list(CHANNEL_OPTIONS)
            if authority is not None:
                options.append(("grpc.default_authority", authority))
            self._channels[key] = grpc.aio.insecure_channel(address, options=options)
        return self._channels[key]

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()


async def unary(
    channel: grpc.aio.Channel,
    message: bytes,
    metadata: tuple[tuple[str, str], ...],
    timeout: float,
) -> tuple[int, bytes, str]:
    """(gRPC status code, answer message, details) of one call; never raises for an RPC
    error (no connection is UNAVAILABLE, a passed deadline DEADLINE_EXCEEDED)."""
    call = channel.unary_unary(SHOP_METHOD)
    try:
        answer = await call(message, metadata=metadata, timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        return exc.code().value[0], b"", exc.details() or ""
    return 0, answer, ""
