"""Test hook, on PYTHONPATH of one test only: a Locust worker held still after it says ready.

With `MESHPROOF_TEST_HOLD_WORKER=1`, a `python -m harness.load.locust_main worker` process
sends its `client_ready` and then stops running Python (a blocking wait, not gevent's)
until its master's state file (`--master-state`) says `running`: the master has acked, sent the spawn message
and waited for the worker's report. The ack and the spawn are then both queued when the
worker reads again, as on a machine too busy to run the worker between them. Nothing else
of the worker changes; every other process ignores this file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HOLD_LIMIT_S = 30.0
HELD_MARK = "worker-held"  # written beside the master's state file once the hold is over


def _master_running(state: Path) -> bool:
    try:
        return json.loads(state.read_text(encoding="utf-8")).get("state") == "running"
    except (OSError, ValueError):
        return False


def _install() -> None:
    if sys.argv[:2] != ["-m", "worker"] or os.environ.get("MESHPROOF_TEST_HOLD_WORKER") != "1":
        return
    from gevent.monkey import get_original
    from locust.rpc import zmqrpc

    blocking_sleep = get_original("time", "sleep")
    state = Path(sys.argv[sys.argv.index("--master-state") + 1])
    send = zmqrpc.Client.send

    def send_then_hold(self: Any, msg: Any) -> None:
        send(self, msg)
        if msg.type == "client_ready":
            deadline = time.monotonic() + HOLD_LIMIT_S
            while not _master_running(state) and time.monotonic() < deadline:
                blocking_sleep(0.02)
            state.with_name(HELD_MARK).touch()  # the test's evidence that the hold happened

    setattr(zmqrpc.Client, "send", send_then_hold)  # noqa: B010 (mypy: no method assignment)


_install()
