"""Serve an aiohttp app on uvloop until SIGINT / SIGTERM: the end of the `__main__` of the
control plane and the trace sink. Imports nothing of the mesh. (The sample services
serve on the sidecar's raw stack instead: `mesh_runtime.services.http_serve`.)

    sys.exit(serve("tracesink", app, "127.0.0.1", 8080, shutdown_timeout=2.0))
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import uvloop
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError


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
    logger = logging.getLogger(f"{__name__}.{who}")
    logger.addFilter(malformed_request_line)
    try:
        web.run_app(
            app,
            host=host,
            port=port,
            print=None,
            access_log=None,
            logger=logger,
            shutdown_timeout=shutdown_timeout,
            loop=uvloop.new_event_loop(),
        )
    except OSError as exc:
        text = problem(exc) if problem else f"cannot listen on {host}:{port}: {exc.strerror}"
        print(f"{who}: {text}", file=sys.stderr)
        return 2
    return 0


def malformed_request_line(record: logging.LogRecord) -> bool:
    """A logging filter: aiohttp logs a request it could not parse (answered 400 and
    closed) as an error with its parser's traceback; that is the client's fault, so it
    becomes one line at INFO. A handler's own failure keeps its traceback."""
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, web.RequestPayloadError) and error.__cause__ is not None:
        # a body that failed to decode (not gzip): aiohttp reads on after the handler's
        # 400, meets the parser's error again and logs it as unhandled
        error = error.__cause__
    if isinstance(error, HttpProcessingError):
        problem = str(error.message)[:200].replace("%", "%%")  # msg is %-formatted
        record.msg = f"{record.msg}: malformed request ({error.code}): {problem}"
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
    return True
