"""A shop service's call to a `protocol: tcp` callee (the key-value store, `kv.py`).

One connection per call: `SET <key> <value>`, `GET <key>`, `PING`, then the three reply
lines, then close. (No half-close: in no-mesh mode the call crosses Toxiproxy, which ends
a connection both ways when it reads a FIN.) The three replies must be `OK`,
`VALUE <value>` and `PONG <instance>`: then the call is a 200 naming the instance; a
connection that fails or times out is status 0 (no answer), wrong or missing replies 502.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

from mesh_runtime.services.call_result import CallResult, describe_error
from mesh_runtime.services.kv import MAX_KEY


def kv_script(key: str, value: str) -> bytes:
    key = kv_key(key)
    return f"SET {key} {value}\nGET {key}\nPING\n".encode()


def kv_key(path: str) -> str:
    """The request path as a kv key: as it is when it fits `MAX_KEY` bytes, else its start
    and a digest of the whole (a longer key is an ERROR reply: the call would be a 502 the
    mesh did not cause)."""
    encoded = path.encode()
    if len(encoded) <= MAX_KEY:
        return path
    digest = hashlib.blake2b(encoded, digest_size=8).hexdigest()
    start = encoded[: MAX_KEY - len(digest) - 1].decode("utf-8", "ignore")
    return f"{start}#{digest}"


def kv_outcome(replies: list[str], value: str) -> tuple[int, str | None, str | None]:
    """(status, instance, error) of a call from the replies it got."""
    if len(replies) == 3 and replies[0] == "OK" and replies[1] == f"VALUE {value}":
        verb, _, instance = replies[2].partition(" ")
        if verb == "PONG" and instance:
            return 200, instance, None
    return 502, None, f"unexpected replies {replies[:3]!r}"


async def kv_call(service: str, address: str, key: str, value: str, timeout: float) -> CallResult:
    """Run the script against `address`; never raises for a network problem."""
    host, _, port = address.rpartition(":")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                writer.write(kv_script(key, value))
                replies = [await reader.readline() for _ in range(3)]
                data = b"".join(replies)
            finally:
                writer.close()
    except (TimeoutError, OSError) as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return CallResult(service, 0, elapsed, error=describe_error(exc))
    elapsed = (time.perf_counter() - started) * 1000
    status, instance, error = kv_outcome(data.decode("utf-8", "replace").splitlines(), value)
    return CallResult(service, status, elapsed, instance=instance, error=error)
