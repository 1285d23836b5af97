"""A small configurable upstream HTTP server for the sidecar's integration tests (aiohttp).

`python upstream_app.py --port P --instance NAME [--version v1] [--error-rate 0.3]`

- `/_health`: 200; `/_count`: JSON {"requests": N} served since start (excluding `/_*`);
- `PUT /_behaviour?error_rate=0.3&error_status=503&delay_ms=0`: change the behaviour;
- `/echo`: the request body back, with the request headers seen as `x-seen-<name>`;
- `/chunked?n=K&size=S`: a chunked response of K chunks of S bytes;
- `/bytes/N`: N bytes; `/status/CODE`: that status; `/delay/MS`: answer after MS ms;
- anything else: 200 JSON {"instance", "version", "path"}.
Every answer carries `x-instance`. An injected error is `error_status` with a short body.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random

from aiohttp import web


class Upstream:
    def __init__(self, instance: str, version: str, error_rate: float, error_status: int) -> None:
        self.instance = instance
        self.version = version
        self.error_rate = error_rate
        self.error_status = error_status
        self.delay_ms = 0.0
        self.requests = 0
        self.rng = random.Random()

    def headers(self) -> dict[str, str]:
        return {"x-instance": self.instance, "x-version": self.version}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/_health":
            return web.Response(text="ok", headers=self.headers())
        if path == "/_count":
            return web.json_response({"requests": self.requests}, headers=self.headers())
        if path == "/_behaviour":
            return self.change(request)
        self.requests += 1
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000)
        if self.error_rate and self.rng.random() < self.error_rate:
            return web.Response(status=self.error_status, text="injected", headers=self.headers())
        return await self.route(request, path)

    def change(self, request: web.Request) -> web.Response:
        query = request.query
        self.error_rate = float(query.get("error_rate", self.error_rate))
        self.error_status = int(query.get("error_status", self.error_status))
        self.delay_ms = float(query.get("delay_ms", self.delay_ms))
        return web.Response(text="ok", headers=self.headers())

    async def route(self, request: web.Request, path: str) -> web.StreamResponse:
        if path == "/echo":
            body = await request.read()
            headers = self.headers()
            for name, value in request.headers.items():
                headers[f"x-seen-{name.lower()}"] = value
            return web.Response(body=body, headers=headers)
        if path == "/chunked":
            return await self.chunked(request)
        if path.startswith("/bytes/"):
            size = int(path.rsplit("/", 1)[1])
            return web.Response(body=b"x" * size, headers=self.headers())
        if path.startswith("/status/"):
            return web.Response(status=int(path.rsplit("/", 1)[1]), headers=self.headers())
        if path.startswith("/delay/"):
            await asyncio.sleep(float(path.rsplit("/", 1)[1]) / 1000)
        data = {"instance": self.instance, "version": self.version, "path": path}
        return web.Response(text=json.dumps(data), headers=self.headers())

    async def chunked(self, request: web.Request) -> web.StreamResponse:
        count = int(request.query.get("n", "4"))
        size = int(request.query.get("size", "1000"))
        response = web.StreamResponse(headers=self.headers())
        response.enable_chunked_encoding()
        await response.prepare(request)
        for index in range(count):
            await response.write(bytes([97 + index % 26]) * size)
        await response.write_eof()
        return response


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--instance", default="app-0")
    parser.add_argument("--version", default="v1")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--error-status", type=int, default=503)
    args = parser.parse_args()
    upstream = Upstream(args.instance, args.version, args.error_rate, args.error_status)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", upstream.handle)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
