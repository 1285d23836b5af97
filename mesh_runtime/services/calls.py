"""Downstream calls of a sample service: through its sidecar (`--via`) or direct.

In mesh mode every call goes to the sidecar's outbound listener with `Host: <service>`;
in no-mesh mode the service picks an instance of the callee itself, round robin.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from mesh_runtime.grpc_codes import code_name, http_status_of
from mesh_runtime.services.behaviour import RoundRobin
from mesh_runtime.services.call_result import CallResult, describe_error
from mesh_runtime.services.deadlines import DeadlineQueue
from mesh_runtime.services.http_pool import KeepAlivePool
from mesh_runtime.services.rpc_call import GrpcChannels, call_message, metadata_of, unary
from mesh_runtime.services.tcp_call import kv_call
from mesh_runtime.sidecar.http1 import ConnectionClosed
from mesh_runtime.sidecar.upstream import AttemptError

__all__ = ["CallResult", "Downstream", "Targets", "parse_address", "parse_direct"]

_ADDRESS_HINT = "expected host:port, e.g. 127.0.0.1:8080"
_ANSWER_LIMIT = 256 * 1024
"""Answers larger than this (padded bodies) are not parsed for the nested call tree."""
_DECODER = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"


def parse_address(text: str) -> str:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: {_ADDRESS_HINT}")
    return f"{host}:{port}"


def parse_direct(values: Iterable[str]) -> dict[str, list[str]]:
    """`["catalog=127.0.0.1:1,127.0.0.1:2", "cart=127.0.0.1:3"]` -> service -> addresses.

    Each value may also hold several services separated by ';'.
    """
    out: dict[str, list[str]] = {}
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(";"))):
            service, sep, addresses = part.partition("=")
            if not sep or not service.strip():
                raise ValueError(f"{part!r}: expected service=host:port[,host:port...]")
            parsed = [parse_address(a) for a in addresses.split(",") if a.strip()]
            if not parsed:
                raise ValueError(f"{part!r}: expected at least one host:port for {service.strip()}")
            out.setdefault(service.strip(), []).extend(parsed)
    return out


class Targets:
    """Where a call to each service goes: (base URL, Host header or None); a
    `protocol: tcp` callee's address (`--tcp`: its sidecar listener, or its instances);
    a `protocol: grpc` callee's (`grpc_route`)."""

    def __init__(
        self,
        via: str | None,
        direct: Mapping[str, list[str]],
        tcp: Mapping[str, list[str]] | None = None,
        grpc: Iterable[str] = (),
    ) -> None:
        self._via = parse_address(via) if via else None
        self._direct = {service: RoundRobin(addrs) for service, addrs in direct.items()}
        self._tcp = {service: RoundRobin(addrs) for service, addrs in (tcp or {}).items()}
        self._grpc = frozenset(grpc)

    def missing(self, services: Iterable[str]) -> list[str]:
        """The services among `services` this instance has no way to reach."""
        if self._via:
            return []
        return [s for s in services if s not in self._direct and s not in self._tcp]

    def tcp(self, service: str) -> str | None:
        """host:port for the next connection to a tcp callee; None: it speaks HTTP."""
        pick = self._tcp.get(service)
        return pick.pick() if pick is not None else None

    def grpc_route(self, service: str) -> tuple[str, str | None] | None:
        """(host:port, :authority or None) for the next call to a grpc callee; None: it
        does not speak gRPC."""
        if service not in self._grpc:
            return None
        if service in self._direct:
            return self._direct[service].pick(), None
        if self._via is None:
            raise LookupError(f"no address for {service}")
        return self._via, service

    def route(self, service: str) -> tuple[str, str | None]:
        """(host:port to connect to, Host header or None: the address itself)."""
        if service in self._direct:
            return self._direct[service].pick(), None
        if self._via is None:
            raise LookupError(f"no address for {service}")
        return self._via, service


class Downstream:
    """Every downstream call of this instance: HTTP on one keep-alive pool, gRPC on
    grpcio channels, TCP on a connection per call."""

    def __init__(self, targets: Targets, timeout_s: float, max_connections: int = 512) -> None:
        self._targets = targets
        self._timeout_s = timeout_s
        self._pool = KeepAlivePool(max_connections)
        self._deadlines = DeadlineQueue()
        self._channels = GrpcChannels()
        self._answers = AnswerReader()

    async def start(self) -> None:
        """Nothing to open ahead: connections are made on the first calls."""

    async def close(self) -> None:
        self._pool.close()
        self._deadlines.close()
        await self._channels.close()

    async def call_each(
        self,
        services: Iterable[str],
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        timeout: float | None = None,
    ) -> list[CallResult]:
        """Call `services` in order, stopping after the first that fails (last in the list)."""
        results: list[CallResult] = []
        for service in services:
            results.append(await self.call(service, method, path, headers, body, timeout))
            if not results[-1].ok:
                break
        return results

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        timeout: float | None = None,
    ) -> CallResult:
        """Send the request on to `service` (within `timeout` s when given, else the
        instance's call timeout); never raises for a network problem."""
        limit = self._timeout_s
        if timeout is not None:
            limit = min(max(timeout, 0.001), limit)
        tcp = self._targets.tcp(service)
        if tcp is not None:
            value = headers.get("traceparent", "-").replace(" ", "")
            return await kv_call(service, tcp, path, value, limit)
        grpc_route = self._targets.grpc_route(service)
        if grpc_route is not None:
            return await self._grpc_call(service, grpc_route, method, path, headers, limit)
        address, host = self._targets.route(service)
        fields = [(b"host", (host or address).encode())]
        fields += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        started = time.perf_counter()
        try:
            async with self._deadlines.within(limit):
                status, payload = await self._pool.request(
                    address, method.encode(), path.encode("latin-1"), fields, body
                )
        except (AttemptError, ConnectionClosed, TimeoutError, OSError) as exc:
            elapsed = (time.perf_counter() - started) * 1000
            return CallResult(service, 0, elapsed, error=describe_error(exc))
        elapsed = (time.perf_counter() - started) * 1000
        instance, calls = self._answers.read(payload)
        return CallResult(service, status, elapsed, instance=instance, calls=calls)

    async def _grpc_call(
        self,
        service: str,
        route: tuple[str, str | None],
        method: str,
        path: str,
        headers: dict[str, str],
        timeout: float,
    ) -> CallResult:
        channel = self._channels.get(*route)
        started = time.perf_counter()
        code, payload, details = await unary(
            channel, call_message(method, path), metadata_of(headers), timeout
        )
        elapsed = (time.perf_counter() - started) * 1000
        answer = _answer_of(payload)
        error = f"{code_name(code)}: {details}" if code else None
        return CallResult(
            service,
            http_status_of(code),
            elapsed,
            instance=answer.get("instance"),
            error=error,
            calls=answer.get("calls"),
            grpc_status=code,
        )


class AnswerReader:
    """The `instance` and `calls` of callees' answers (`_answer_of`). A leaf answers the
    same bytes every time (its cached answer): the last answer with no calls of its own
    is remembered and not parsed again (~8 k instructions of a client hop)."""

    def __init__(self) -> None:
        self._last: bytes | None = None
        self._instance: str | None = None

    def read(self, payload: bytes) -> tuple[Any, Any]:
        if payload == self._last:
            return self._instance, []  # a fresh list, as parsing makes one
        answer = _answer_of(payload)
        instance, calls = answer.get("instance"), answer.get("calls")
        if isinstance(calls, list) and not calls and (instance is None or type(instance) is str):
            self._last, self._instance = payload, instance
        return instance, calls


def _answer_of(payload: bytes) -> dict[str, Any]:
    """The callee's JSON answer when it is one of ours; {} for anything else."""
    if not payload.startswith(b"{") or len(payload) > _ANSWER_LIMIT:
        return {}
    try:
        if payload[1:2] == b"\x00":  # UTF-16 or -32: json.loads tells which
            answer = json.loads(payload)
        else:
            # json.loads' own steps for UTF-8, without its encoding sniffing and wrappers
            # (2.8 -> 0.7 us an answer).
            text = payload.decode("utf-8", "surrogatepass")
            answer, end = _DECODER.raw_decode(text)
            if text[end:].strip(_JSON_SPACE):
                return {}  # what json.loads refuses as "Extra data"
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
