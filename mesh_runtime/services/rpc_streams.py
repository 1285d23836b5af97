"""The streaming methods of the gRPC sample service.

Chosen by the method's name, like any unary one, under any service name:
- `.../<Name>Stream` (server streaming): the request is JSON `{"count": N, "interval_ms":
  M, "fail_after": K}` (all optional: 3 messages, no pause, no failure); the answer is N
  messages `{"instance", "seq"}` (padded to `response_bytes`), M ms apart, and with
  `fail_after` the call ends after K of them with the behaviour's `grpc_status` (a stream
  that fails after it began).
- `.../<Name>Echo` (bidirectional): every request message is answered at once with one
  message `{"instance", "seq", "echo"}` (`echo` the request message as text), until the
  caller ends its side.
The behaviour's knobs hold per message: hang and latency before each, and `error_rate`
fails the call before its first message with `grpc_status`.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

from mesh_runtime.services.behaviour import padded_body, should_fail
from mesh_runtime.services.control import BehaviourControl
from mesh_runtime.services.tracing import ServiceIdentity

SERVER_STREAMING = "Stream"
BIDI_STREAMING = "Echo"
INVALID_ARGUMENT = 3


class StreamFailure(Exception):
    """The call ends with a gRPC error status."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def kind_of(method: str) -> str:
    """'server', 'bidi' or 'unary' for a method path `/pkg.Service/Method`."""
    name = method.rpartition("/")[2]
    if name.endswith(SERVER_STREAMING):
        return "server"
    if name.endswith(BIDI_STREAMING):
        return "bidi"
    return "unary"


@dataclass(frozen=True)
class StreamPlan:
    count: int = 3
    interval_ms: float = 0.0
    fail_after: int | None = None


def stream_plan(message: bytes) -> StreamPlan:
    """The server stream a request asks for; StreamFailure INVALID_ARGUMENT when bad."""
    if not message.strip():
        return StreamPlan()
    try:
        asked = json.loads(message)
        if not isinstance(asked, dict):
            raise TypeError("not an object")
        fail_after = asked.get("fail_after")
        plan = StreamPlan(
            int(asked.get("count", 3)),
            float(asked.get("interval_ms", 0)),
            None if fail_after is None else int(fail_after),
        )
    except (ValueError, TypeError) as exc:
        raise StreamFailure(INVALID_ARGUMENT, f"bad stream request: {exc}") from None
    if not 0 <= plan.count <= 100_000 or plan.interval_ms < 0:
        raise StreamFailure(INVALID_ARGUMENT, "count 0..100000, interval_ms >= 0")
    return plan


class StreamingMethods:
    """Server-streaming and bidirectional methods of one instance."""

    def __init__(
        self, identity: ServiceIdentity, control: BehaviourControl, rng: random.Random
    ) -> None:
        self._instance = identity.instance
        self._control = control
        self._rng = rng

    async def server_stream(self, request: bytes) -> AsyncIterator[bytes]:
        plan = stream_plan(request)
        await self._start()
        for seq in range(plan.count):
            if plan.fail_after is not None and seq >= plan.fail_after:
                break
            if seq and plan.interval_ms:
                await asyncio.sleep(plan.interval_ms / 1000)
            yield await self._message(seq)
        if plan.fail_after is not None and plan.fail_after < plan.count:
            status = self._control.behaviour.grpc_status
            raise StreamFailure(status, f"failed after {plan.fail_after} messages")

    async def echo(self, requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        await self._start()
        seq = 0
        async for message in requests:
            yield await self._message(seq, echo=message.decode("utf-8", "replace"))
            seq += 1

    async def _start(self) -> None:
        behaviour = self._control.behaviour
        if should_fail(behaviour, self._rng):
            raise StreamFailure(behaviour.grpc_status, "injected")

    async def _message(self, seq: int, **extra: str) -> bytes:
        behaviour = await self._control.delayed(self._rng)
        payload = {"instance": self._instance, "seq": seq, **extra}
        return padded_body(payload, behaviour.response_bytes)
