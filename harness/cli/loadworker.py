"""`meshproof load-worker --master HOST:PORT`: a Locust worker of a run on another machine.

A run's Locust master listens where `meshproof run --load-master-bind ADDR[:PORT]` says
(127.0.0.1 by default); this command starts one worker that connects to it, takes the
share of the schedule the master gives it, sends its requests to the run's target, and
sends every request's record back to the master in batches (inside Locust's own
messages). It needs no checkout of the run's files and writes nothing: the run
directory is written on the master's machine only. Start it before the run or while the
master waits for its workers (Locust retries the connection for 5 minutes); it ends when
the master does. The machines' clocks must agree (NTP): the worker sends on the master's
schedule. A worker that dies mid-run is named in the run and its share counted unsent.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from harness.cli.commands import add_command
from mesh_runtime.errors import InvalidInput


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "load-worker", "a Locust worker for a run's master on another machine", __doc__
    )
    parser.add_argument(
        "--master", required=True, metavar="HOST:PORT", help="where the run's Locust master listens"
    )
    parser.set_defaults(func=load_worker_command)


def load_worker_command(args: Any) -> int:
    from harness.load.transport import master_address

    try:
        host, port = master_address(args.master)
    except ValueError as exc:
        raise InvalidInput("--master", "", str(exc)) from exc
    # Locust monkey-patches on import: the worker runs as its own program, imported first.
    command = [sys.executable, "-m", "harness.load.locust_main", "worker"]
    os.execv(sys.executable, [*command, "--master", f"{host}:{port}"])
