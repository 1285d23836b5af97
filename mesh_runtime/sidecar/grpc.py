"""gRPC as the proxy sees it, pure: status codes in headers and trailers, deadlines, and
the answers the sidecar itself makes to a gRPC call.

A gRPC call is an HTTP/2 request with `content-type: application/grpc[+proto|...]`. Its
outcome is `grpc-status` in the trailers, or in the one HEADERS of a trailers-only answer
(how errors without a message are usually sent). Retries look only at a trailers-only
answer (the status is known before anything went downstream; a stream whose response has
begun is never retried), with Istio's retryOn names. The sidecar's own answers to a gRPC
call (fault aborts, overflows, timeouts) are trailers-only, `:status` 200, as Envoy's are.
"""

from __future__ import annotations

import re

from mesh_runtime.grpc_codes import (
    CANCELLED,
    DEADLINE_EXCEEDED,
    INTERNAL,
    RESOURCE_EXHAUSTED,
    UNAVAILABLE,
    UNKNOWN,
    grpc_status_of_http,
)
from mesh_runtime.sidecar.http1 import BodyStream, Headers, Response

GRPC_CONTENT_TYPE = b"application/grpc"


RETRY_ON_GRPC = {
    "cancelled": CANCELLED,
    "deadline-exceeded": DEADLINE_EXCEEDED,
    "resource-exhausted": RESOURCE_EXHAUSTED,
    "internal": INTERNAL,
    "unavailable": UNAVAILABLE,
}
"""Istio's (Envoy's x-envoy-retry-grpc-on) retryOn names -> the gRPC status they retry."""

_GRPC_TIMEOUT = re.compile(rb"^(\d{1,8})([HMSmun])$")
_UNIT_S = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


def is_grpc(headers: Headers) -> bool:
    """Whether a request (or response) with these headers is gRPC."""
    for name, value in headers:
        if name == b"content-type":
            return value.startswith(GRPC_CONTENT_TYPE)
    return False


def status_in(headers: Headers | None) -> int | None:
    """The `grpc-status` among `headers`, None when absent or not a number."""
    for name, value in headers or ():
        if name == b"grpc-status":
            return int(value) if value.strip().isdigit() else UNKNOWN
    return None


def head_status(response: Response) -> int | None:
    """The gRPC status a response's head already carries (a trailers-only answer)."""
    return status_in(response.headers)


def final_status(response: Response) -> int | None:
    """The gRPC status of a finished response: its trailers', else its head's."""
    body = response.body
    if isinstance(body, BodyStream) and body.trailers:
        found = status_in(body.trailers)
        if found is not None:
            return found
    return head_status(response)


def grpc_timeout(headers: Headers) -> float | None:
    """The `grpc-timeout` header in seconds ('250m' -> 0.25); None when absent or bad."""
    for name, value in headers:
        if name == b"grpc-timeout":
            found = _GRPC_TIMEOUT.match(value.strip())
            if found is None:
                return None
            return int(found.group(1)) * _UNIT_S[found.group(2)]
    return None


def with_grpc_timeout(headers: Headers, seconds: float) -> Headers:
    """`headers` with `grpc-timeout` set to `seconds` (in whole milliseconds, at least 1):
    the deadline the next hop is told, no later than the caller's."""
    value = b"%dm" % max(1, int(seconds * 1000))
    return [(k, v) for k, v in headers if k != b"grpc-timeout"] + [(b"grpc-timeout", value)]


def call_budget(per_try: float | None, route_deadline: float | None, now: float) -> float | None:
    """Seconds this try may still take: its per-try timeout, cut by the route's deadline
    (loop time); None when neither bounds it."""
    left = None if route_deadline is None else max(0.0, route_deadline - now)
    if per_try is None:
        return left
    return per_try if left is None else min(per_try, left)


def trailers_only(grpc_status: int, message: str, flags: str = "-") -> Response:
    """The sidecar's own gRPC answer: HEADERS only, `:status` 200, the status inside."""
    headers: Headers = [
        (b"content-type", GRPC_CONTENT_TYPE),
        (b"grpc-status", b"%d" % grpc_status),
        (b"grpc-message", _percent_encoded(message)),
    ]
    return Response(200, headers, b"", flags=flags)


def as_grpc(response: Response) -> Response:
    """A local HTTP error answer to a gRPC call, as the trailers-only gRPC answer; a
    timeout (flag UT) is DEADLINE_EXCEEDED, the caller's deadline passed on."""
    body = response.body
    text = body.decode("utf-8", "replace").strip() if isinstance(body, bytes) else ""
    timed_out = "UT" in response.flags.split(",")
    code = DEADLINE_EXCEEDED if timed_out else grpc_status_of_http(response.status)
    return trailers_only(code, text, response.flags)


class MessageCounter:
    """Counts the length-prefixed gRPC messages of a body fed in any chunks (1 flag byte,
    4 length bytes, the message): Istio's istio_request/response_messages_total."""

    __slots__ = ("_head", "_skip", "count")

    def __init__(self) -> None:
        self.count = 0
        self._head = b""
        self._skip = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
                view = view[step:]
                continue
            need = 5 - len(self._head)
            self._head += bytes(view[:need])
            view = view[need:]
            if len(self._head) == 5:
                self.count += 1
                self._skip = int.from_bytes(self._head[1:], "big")
                self._head = b""


def messages_in(body: bytes) -> int:
    """The gRPC messages in a whole body."""
    counter = MessageCounter()
    counter.feed(body)
    return counter.count


def _percent_encoded(message: str) -> bytes:
    """grpc-message is percent-encoded UTF-8 (printable ASCII but '%' as is)."""
    out = bytearray()
    for byte in message.encode("utf-8"):
        if 0x20 <= byte <= 0x7E and byte != 0x25:
            out.append(byte)
        else:
            out += b"%%%02X" % byte
    return bytes(out)
