"""A target HTTP server with a known latency distribution, run as a script by the tests.

    python load_target.py --port-file F [--host ADDR] [--seed S] [--median-ms M] [--sigma X]

Every request, in order of arrival, is answered after a latency drawn from a seeded
lognormal (median `--median-ms`, shape `--sigma`), so the test knows the exact latencies
of the first `n` requests. `POST /_stall?ms=500` makes it stop answering for that long
(requests held, then answered). `GET /_stats` gives the count served, the trace ids of
the `traceparent` headers received, and how long each request was actually held (the drawn
latency plus the event loop's timer slop, which grows when the machine is busy). Binds `--host` (default 127.0.0.1) on a port the OS picks, written to F.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import time
from pathlib import Path

from aiohttp import web


class Target:
    def __init__(self, seed: int, median_ms: float, sigma: float) -> None:
        self._rng = random.Random(seed)
        self._mu = math.log(median_ms)
        self._sigma = sigma
        self._median_ms = median_ms
        self.served = 0
        self.trace_ids: list[str] = []
        self.holds_ms: list[float] = []
        self.stall_until = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        delay_ms = (
            self._rng.lognormvariate(self._mu, self._sigma) if self._sigma else self._median_ms
        )
        await request.read()
        traceparent = request.headers.get("traceparent", "")
        began = time.perf_counter()
        await asyncio.sleep(delay_ms / 1000.0)
        while (wait := self.stall_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        self.served += 1
        self.trace_ids.append(traceparent[3:35])
        self.holds_ms.append((time.perf_counter() - began) * 1000.0)
        return web.Response(text="ok")

    async def stall(self, request: web.Request) -> web.Response:
        self.stall_until = time.monotonic() + float(request.query.get("ms", "500")) / 1000.0
        return web.Response(text="stalled")

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"served": self.served, "trace_ids": self.trace_ids, "holds_ms": self.holds_ms}
        )


async def serve(args: argparse.Namespace) -> None:
    target = Target(args.seed, args.median_ms, args.sigma)
    app = web.Application()
    app.router.add_get("/_health", lambda _: web.Response(text="ok"))
    app.router.add_post("/_stall", target.stall)
    app.router.add_get("/_stats", target.stats)
    app.router.add_route("*", "/{tail:.*}", target.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    tmp = Path(str(args.port_file) + ".tmp")
    tmp.write_text(str(port))
    os.replace(tmp, args.port_file)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--median-ms", type=float, default=10.0)
    parser.add_argument("--sigma", type=float, default=0.5)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
