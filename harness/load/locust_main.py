"""Entry point of the Locust processes: `python -m harness.load.locust_main master|worker`.

    master --plan PLAN --state STATE
        A Locust `MasterRunner` on 127.0.0.1 (a port the OS picks, written to STATE). Once
        `spec.workers` workers have connected it fixes t0 (the plan's, or half a second
        from now when the plan leaves it open), spawns `spec.connections` users across them
        with t0 in the spawn message, and writes `"state": "running"` and t0 to STATE.
    worker --plan PLAN --master-port P
        A Locust `WorkerRunner`. It keeps worker `i`'s share of the schedule, where `i` is
        the index the master gave it, and writes its records and status files.

Locust's own `main()` is not used: the plan comes as one typed file, the master's port
from the OS (no port race), readiness through the state file, and nothing of the web UI,
CSV writers or console printing runs. Both processes exit when the orchestrator is gone,
on SIGTERM, and in any case at the plan's hard deadline, and say why on stderr (their
log); a worker that ends before it took its share of the schedule exits with code 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gevent
from locust import argument_parser
from locust.env import Environment
from locust.log import setup_logging
from locust.runners import MasterRunner, WorkerRunner

from harness.load.files import write_status
from harness.load.plan import GRACE_S, LoadPlan
from harness.load.user import USER_CLASS_NAME, WorkerState, grow_connections, user_class

READY_TIMEOUT_S = 60.0
SPAWN_LEAD_S = 0.5
"""When the master picks t0 itself: how far ahead, so that every user is spawned by then."""
T0_OPTION = "meshproof_t0"
"""Travels to the workers inside Locust's spawn message (as a custom option), so a worker
has t0 exactly when it starts its users; a message of its own could overtake the worker's
handler registration."""


def _options_with_t0(t0: float) -> Any:
    """Locust's default options (no config files read) plus t0, for the spawn message."""
    parser = argument_parser.get_empty_argument_parser(default_config_files=[])
    argument_parser.setup_parser_arguments(parser)
    options = parser.parse([])
    options.headless = True  # the master quits once the last worker has
    setattr(options, T0_OPTION, t0)
    return options


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _watchdog(
    plan: LoadPlan, t0: Callable[[], float | None], on_expiry: Callable[[str], None]
) -> None:
    """Call `on_expiry(reason)` at the hard deadline or when the orchestrator is gone.

    Until t0 is known the deadline counts from the start of this process plus the time
    allowed for every worker to get ready.
    """
    started = time.time()
    while True:
        start = t0()
        deadline = plan.deadline(start) if start is not None else started + READY_TIMEOUT_S * 2
        if time.time() > deadline + GRACE_S:
            on_expiry("hard deadline reached")
            return
        if os.getppid() != plan.parent_pid:
            on_expiry("orchestrator gone")
            return
        gevent.sleep(0.5)


def _wait_until(condition: Callable[[], bool], timeout: float, ending: Ending) -> bool:
    """Poll `condition`; False once `timeout` ran out or the process is stopping."""
    deadline = time.monotonic() + timeout
    while not condition():
        if ending.reason is not None or time.monotonic() > deadline:
            return False
        gevent.sleep(0.05)
    return True


def run_master(plan: LoadPlan, state_path: Path) -> int:
    env = Environment(
        user_classes=[user_class(None, plan.target_url, plan.spec.timeout)], host=plan.target_url
    )
    runner = env.create_master_runner("127.0.0.1", 0)
    assert isinstance(runner, MasterRunner)
    port = runner.server.port
    write_status(state_path, {"state": "waiting", "port": port, "pid": os.getpid()})
    ending = Ending(runner)
    gevent.signal_handler(signal.SIGTERM, ending.stop, "SIGTERM")
    chosen: list[float] = []
    gevent.spawn(_watchdog, plan, lambda: chosen[0] if chosen else None, ending.stop)
    workers = plan.spec.workers
    if not _wait_until(lambda: len(runner.clients.ready) >= workers, READY_TIMEOUT_S, ending):
        ending.stop(f"only {len(runner.clients.ready)} of {workers} workers connected")
        return 1
    chosen.append(plan.t0 if plan.t0 is not None else time.time() + SPAWN_LEAD_S)
    env.parsed_options = _options_with_t0(chosen[0])
    runner.start(plan.spec.connections, spawn_rate=max(plan.spec.connections, 1) * 100.0)
    if not _wait_until(lambda: runner.spawning_completed, READY_TIMEOUT_S, ending):
        ending.stop("the workers did not finish spawning users")
        return 1
    write_status(state_path, {"state": "running", "port": port, "t0": chosen[0]})
    runner.greenlet.join()
    return 0


def run_worker(plan: LoadPlan, master_port: int) -> int:
    state = WorkerState(plan)
    env = Environment(
        user_classes=[user_class(state, plan.target_url, plan.spec.timeout, plan.ingress)],
        host=plan.target_url,
    )

    def on_test_start(environment: Environment, **_: Any) -> None:
        state.set_t0(float(getattr(environment.parsed_options, T0_OPTION)))

    # Listen before connecting: the spawn message can come right behind the master's ack
    # and be handled inside create_worker_runner() (a process the OS did not run for a
    # moment finds both queued); a listener added afterwards misses its test_start.
    env.events.test_start.add_listener(on_test_start)
    runner = env.create_worker_runner("127.0.0.1", master_port)
    assert isinstance(runner, WorkerRunner)
    ending = Ending(runner)

    def housekeeping() -> None:
        while True:
            gevent.sleep(1.0)
            state.write_status()

    gevent.spawn(housekeeping)
    gevent.spawn(_take_share, state, runner, ending.stop)
    gevent.spawn(_watchdog, plan, lambda: state.t0, ending.stop)
    gevent.signal_handler(signal.SIGTERM, ending.stop, "SIGTERM")
    try:
        runner.greenlet.join()
    finally:
        state.close()
    if ending.reason is None:
        print("stopping: the Locust master ended the test (quit message)", file=sys.stderr)
    if state.pacer is None:
        print("the worker stopped before it took its share of the schedule", file=sys.stderr)
        return 1
    return 0


def _take_share(state: WorkerState, runner: WorkerRunner, stop: Callable[[str], None]) -> None:
    """Once the master announced t0, keep the share of the schedule the master's index names,
    opening connections as requests fall due with every connection busy."""
    if not state.announced.wait(READY_TIMEOUT_S):
        stop(f"no t0 from the master within {READY_TIMEOUT_S:g}s")
        return
    try:
        state.begin(runner.worker_index)
    except (RuntimeError, OSError) as exc:
        stop(f"cannot take its share of the schedule: {exc}")
        return
    grow_connections(state, lambda n: runner.spawn_users({USER_CLASS_NAME: n}))


class Ending:
    """Why a Locust process stops, said once on stderr (its log), then the runner quits."""

    def __init__(self, runner: MasterRunner | WorkerRunner) -> None:
        self.runner = runner
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            print(f"stopping: {reason}", file=sys.stderr)
            self.runner.quit()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.load.locust_main")
    sub = parser.add_subparsers(dest="role", required=True)
    master = sub.add_parser("master")
    master.add_argument("--plan", type=Path, required=True)
    master.add_argument("--state", type=Path, required=True)
    worker = sub.add_parser("worker")
    worker.add_argument("--plan", type=Path, required=True)
    worker.add_argument("--master-port", type=int, required=True)
    return parser.parse_args(argv)


def _quiet_spawn_rate_warning() -> None:
    # All users start at once on purpose: they are connections, not simulated people.
    logging.getLogger("locust.runners").addFilter(
        lambda record: "spawn rate is very high" not in record.getMessage()
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("WARNING", None)
    _quiet_spawn_rate_warning()
    _raise_fd_limit()
    plan = LoadPlan.read(args.plan)
    if args.role == "master":
        return run_master(plan, args.state)
    return run_worker(plan, args.master_port)


if __name__ == "__main__":
    sys.exit(main())
