"""An upstream app that records every request it receives (JSON lines), for smuggling tests.

`python recording_app.py --port P --log FILE`: any path answers 200 `ok`; each request
other than `/_health` is appended to FILE as {"method", "path", "headers", "body"} and
flushed at once, so a test can assert on exactly what reached the app.
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    log = open(args.log, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/_health":
            return web.Response(text="ok")
        body = await request.read()
        record = {
            "method": request.method,
            "path": request.raw_path,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body": body.decode("latin-1"),
        }
        log.write(json.dumps(record) + "\n")
        log.flush()
        return web.Response(text="ok")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
