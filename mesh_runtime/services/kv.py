"""`python -m mesh_runtime.services.kv --service kv --instance kv-0 --port P`: the shop's
raw TCP service, a tiny line-based key-value store (`protocol: tcp` in the topology).

One command per line, one reply line each, in order:

    SET <key> <value>   -> OK
    GET <key>           -> VALUE <value> | NOTFOUND
    DEL <key>           -> OK | NOTFOUND
    PING                -> PONG <instance>
    anything else       -> ERROR <why>  (a line over MAX_LINE too; the next ones go on)

A client may half-close after its last command: the replies still come, then the
server closes. A connection that completes no line for IDLE_TIMEOUT_S (`--idle-timeout`)
is closed (in order, its replies so far sent). A first line `GET /_health HTTP/1.x` is
answered as HTTP 200 and the connection closed: the runtimes' readiness probe, the same
for every service.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from mesh_runtime.quantities import positive_seconds

MAX_LINE = 4 * 1024 * 1024
MAX_KEY = 256
MAX_KEYS = 65_536
"""Keys the store holds; a SET of a new key past it drops the key set longest ago (the
shop's calls key by request path: paths made per request would otherwise grow it
without end)."""
IDLE_TIMEOUT_S = 75.0
"""A connection waiting this long for its next line is closed: a client that connects and
sends nothing held one for ever. As the HTTP sample service's idle keep-alive connections
(`http_serve.LIMITS`)."""
HEALTH_LINE = b"GET /_health HTTP/1."
HEALTH_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


class KvStore:
    """The commands' meaning, without sockets."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self._data: dict[str, str] = {}

    def execute(self, line: str) -> str:
        """The reply (without its newline) to one command line."""
        verb, _, rest = line.strip().partition(" ")
        verb = verb.upper()
        if verb == "PING":
            return f"PONG {self.instance}"
        key, _, value = rest.strip().partition(" ")
        if verb in ("SET", "GET", "DEL") and not key:
            return f"ERROR {verb} needs a key"
        if len(key) > MAX_KEY:
            return f"ERROR key longer than {MAX_KEY} bytes"
        if verb == "SET":
            if self._data.pop(key, None) is None and len(self._data) >= MAX_KEYS:
                del self._data[next(iter(self._data))]
            self._data[key] = value
            return "OK"
        if verb == "GET":
            found = self._data.get(key)
            return "NOTFOUND" if found is None else f"VALUE {found}"
        if verb == "DEL":
            return "OK" if self._data.pop(key, None) is not None else "NOTFOUND"
        return f"ERROR unknown command {verb[:32]!r}"


TOO_LONG = b"\0too long\0"
"""`read_line`'s stand-in for a line over MAX_LINE (compared by identity)."""


async def read_line(reader: asyncio.StreamReader) -> bytes:
    """The next line (b"" at the end of the stream). A line over the reader's limit is
    read to its end and dropped, and TOO_LONG stands for it: its ERROR reply comes in
    order and the commands after it go on (closing at once, as before, reset the
    connection with the client's bytes unread, and the replies sent before it were lost)."""
    too_long = False
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:  # the end of the stream
            line = exc.partial
        except asyncio.LimitOverrunError as exc:
            too_long = True
            await reader.readexactly(exc.consumed)  # the line's bytes so far, dropped
            continue
        return TOO_LONG if too_long else line


class KvServer:
    def __init__(self, store: KvStore, idle_timeout: float = IDLE_TIMEOUT_S) -> None:
        self.store = store
        self.idle_timeout = idle_timeout

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = True
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        line = await read_line(reader)
                except TimeoutError:  # idle: no line came (a half line counts as none)
                    break
                if not line:
                    break
                if first and line.startswith(HEALTH_LINE):
                    writer.write(HEALTH_ANSWER)
                    break
                first = False
                if line is TOO_LONG:
                    writer.write(f"ERROR line longer than {MAX_LINE} bytes\n".encode())
                    await writer.drain()
                elif line.strip():
                    writer.write(self.store.execute(line.decode("utf-8", "replace")).encode())
                    writer.write(b"\n")
                    await writer.drain()
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()
                await writer.wait_closed()


async def serve(store: KvStore, host: str, port: int, idle_timeout: float = IDLE_TIMEOUT_S) -> None:
    server = await asyncio.start_server(
        KvServer(store, idle_timeout).handle, host, port, limit=MAX_LINE, reuse_address=True
    )
    async with server:
        await server.serve_forever()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mesh_runtime.services.kv",
        description="The shop's raw TCP service: a line-based key-value store.",
    )
    parser.add_argument("--service", default="kv", help="service name (default kv)")
    parser.add_argument("--instance", required=True, help="instance name, e.g. kv-0")
    parser.add_argument("--version", default="v1", help="service version (default v1)")
    parser.add_argument("--port", type=int, required=True, help="listen port")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--idle-timeout",
        type=positive_seconds,
        default=IDLE_TIMEOUT_S,
        help=f"close a connection that sends no line for this long, s (default {IDLE_TIMEOUT_S:g})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(serve(KvStore(args.instance), args.host, args.port, args.idle_timeout))
    except OSError as exc:
        print(f"kv: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
