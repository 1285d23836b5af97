"""Serve an aiohttp app on uvloop until SIGINT / SIGTERM: the end of the `__main__` of the
control plane and the trace sink. Imports nothing of the mesh. (The sample services
serve on the sidecar's raw stack instead: `mesh_runtime.services.http_serve`.)

    sys.exit(serve("tracesink", app, "127.0.0.1", 8080, shutdown_timeout=2.0))
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import uvloop
from aiohttp import web


def serve(
    who: str,
    app: web.Application,
    host: str,
    port: int,
    *,
    shutdown_timeout: float,
    problem: Callable[[OSError], str] | None = None,
) -> int:
    """Run `app` on host:port (no access log, no banner); 0 when it is stopped, 2 with one
    line `who: <problem>` on stderr when it cannot listen (`problem(exc)`, by default
    `cannot listen on host:port: <reason>`)."""
    try:
        web.run_app(
            app,
            host=host,
            port=port,
            print=None,
            access_log=None,
            shutdown_timeout=shutdown_timeout,
            loop=uvloop.new_event_loop(),
        )
    except OSError as exc:
        text = problem(exc) if problem else f"cannot listen on {host}:{port}: {exc.strerror}"
        print(f"{who}: {text}", file=sys.stderr)
        return 2
    return 0
