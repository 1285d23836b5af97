"""Entry point of the Locust processes: `python -m harness.load.locust_main master|worker`.

    master --plan PLAN --state STATE [--bind ADDR] [--port P]
        A Locust `MasterRunner` on ADDR (127.0.0.1 by default) and port P (0: one the OS
        picks, written to STATE). Once `spec.workers` workers have connected it fixes t0
        (the plan's, or half a second from now when the plan leaves it open), spawns
        `spec.connections` users across them with the plan and t0 in the spawn message,
        and writes `"state": "running"` and t0 to STATE. It alone writes the load
        directory: each worker's batches (`harness.load.transport`) become its records,
        histogram and status files, and STATE's `workers` lists every worker (its Locust
        client id, records received, done, or `lost_at` when it went missing first).
        `--plan` / `--state` repeated: blocks of load run one after another by the same
        workers (`LoadDriver.series`); once every worker is done with a block, Locust's
        own `runner.stop()` ends its users and `runner.start()` spawns the next block's
        with its plan and t0, into its own load directory and STATE.
    worker --master HOST:PORT [--parent-pid PID]
    worker --master-host HOST --master-state STATE [--parent-pid PID]
        A Locust `WorkerRunner`, on this machine or another (`meshproof load-worker`):
        it needs no file (the second form, the orchestrator's own workers: started beside
        the master, so their imports overlap its own, they read its port from its STATE
        file once they are ready to connect). It keeps worker `i`'s share of the schedule, where `i` is the
        index the master gave it, and ships its records to the master in batches. Each
        test start (a spawn after Locust's stop) brings a plan: a later block's gets a
        fresh `WorkerState`.

Locust's own `main()` is not used: the plan comes as one typed file (to the workers
inside Locust's spawn message), the master's port from the OS (no port race), readiness
through the state file, and nothing of the web UI, CSV writers or console printing runs.
Both processes exit when the orchestrator is gone (a worker given `--parent-pid`), on
SIGTERM, and in any case at the plan's hard deadline, and say why on stderr (their log);
a worker that ends before it took its share of the schedule exits with code 1, at once
when SIGTERM comes while it is still connecting (Locust would retry for 5 minutes).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import gevent
from locust import argument_parser
from locust.env import Environment
from locust.log import setup_logging
from locust.rpc import Message
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from harness.load.files import master_port, write_status
from harness.load.grpc_client import enable_gevent
from harness.load.plan import GRACE_S, SLOW_START_ENV, LoadPlan
from harness.load.transport import BATCH_MESSAGE, MasterFiles, master_address
from harness.load.user import USER_CLASS_NAME, WorkerState, aim, grow_connections, user_class

READY_TIMEOUT_S = 60.0
SPAWN_LEAD_S = 0.5
"""When the master picks t0 itself: how far ahead, so that every user is spawned by then."""
T0_OPTION = "meshproof_t0"
PLAN_OPTION = "meshproof_plan"
"""The plan and t0 travel to the workers inside Locust's spawn message (as custom
options), so a worker has them exactly when it starts its users; a message of its own
could overtake the worker's handler registration."""
WATCH_S = 0.25
"""How often the master looks for workers Locust found missing or that quit."""


def _options_with_plan(plan: LoadPlan, t0: float) -> Any:
    """Locust's default options (no config files read) plus the plan and t0, for the
    spawn message."""
    parser = argument_parser.get_empty_argument_parser(default_config_files=[])
    argument_parser.setup_parser_arguments(parser)
    options = parser.parse([])
    options.headless = True  # the master quits once the last worker has
    setattr(options, T0_OPTION, t0)
    setattr(options, PLAN_OPTION, plan.as_json())
    return options


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _watchdog(
    deadline: Callable[[], float | None],
    parent_pid: int | None,
    on_expiry: Callable[[str], None],
) -> None:
    """Call `on_expiry(reason)` past `deadline()` (None: none yet) or when the process
    `parent_pid` that started this one is gone."""
    while True:
        limit = deadline()
        if limit is not None and time.time() > limit + GRACE_S:
            on_expiry("hard deadline reached")
            return
        if _orphaned(parent_pid):
            on_expiry("orchestrator gone")
            return
        gevent.sleep(0.5)


def _deadline(plan: LoadPlan | None, t0: float | None, before_t0: float | None) -> float | None:
    """The plan's hard deadline once t0 is known; until then `before_t0`."""
    if plan is not None and t0 is not None:
        return plan.deadline(t0)
    return before_t0


def _wait_until(condition: Callable[[], bool], timeout: float, ending: Ending) -> bool:
    """Poll `condition`; False once `timeout` ran out or the process is stopping."""
    deadline = time.monotonic() + timeout
    while not condition():
        if ending.reason is not None or time.monotonic() > deadline:
            return False
        gevent.sleep(0.05)
    return True


def run_master(blocks: Sequence[tuple[LoadPlan, Path]], bind: str, port: int) -> int:
    """Run each (plan, state file) block in turn with the same workers: Locust's own
    `runner.start` / `runner.stop` between blocks, each block its own t0, load directory
    and state file. The first state file carries the port the workers read."""
    env = Environment(user_classes=[user_class(None)], host=blocks[0][0].target_url)
    runner = env.create_master_runner(bind, port)
    assert isinstance(runner, MasterRunner)
    port = runner.server.port
    files = [MasterFiles(blocks[0][0].work_dir)]
    write_status(blocks[0][1], {"state": "waiting", "port": port, "pid": os.getpid()})

    def on_batch(environment: Environment, msg: Any, **_: Any) -> None:
        books = files[0].receive(msg.node_id, msg.data, time.time())
        refusal = files[0].refusal(books, msg.data)
        if refusal is not None:
            print(refusal, file=sys.stderr)

    runner.register_message(BATCH_MESSAGE, on_batch)
    ending = Ending(runner)
    gevent.signal_handler(signal.SIGTERM, ending.stop, "SIGTERM")
    current: list[tuple[LoadPlan, float]] = []
    before_t0 = [time.time() + READY_TIMEOUT_S * 2]

    def deadline() -> float | None:
        plan, t0 = current[-1] if current else (None, None)
        return _deadline(plan, t0, before_t0[0])

    gevent.spawn(_watchdog, deadline, blocks[0][0].parent_pid, ending.stop)
    gevent.sleep(0)  # its first look now: workers started beside the master may be ready
    if ending.reason is not None:  # already, and an orphaned master must not start them
        return 1
    for number, (plan, state_path) in enumerate(blocks):
        files[0] = MasterFiles(plan.work_dir)
        state: dict[str, Any] = {"state": "waiting", "port": port, "pid": os.getpid()}
        if number:
            write_status(state_path, state)
        t0 = _start_block(env, runner, plan, files[0], ending)
        if t0 is None:
            return 1
        current.append((plan, t0))
        state.update(state="running", t0=t0)
        watch = gevent.spawn(
            _watch_workers, runner, files[0], partial(_save_state, state_path, state, files[0])
        )
        if number == len(blocks) - 1:
            break
        finished = _wait_until(files[0].finished, float("inf"), ending)
        watch.kill()
        state["state"] = "ended"
        _save_state(state_path, state, files[0])
        if not finished:  # stopped (SIGTERM, its deadline, the orchestrator gone)
            return 0
        # The next block's workers are the same: Locust's stop, then its start again.
        before_t0[0] = time.time() + READY_TIMEOUT_S * 2
        current.clear()
        _stop_users(runner)
    try:
        runner.greenlet.join()
    finally:
        state["state"] = "ended"
        _save_state(blocks[-1][1], state, files[0])
    return 0


def _stop_users(runner: MasterRunner) -> None:
    """Locust's stop: the master stops, and its `stop` message ends every worker's users.
    Sent here rather than by `runner.stop()`, which then polls the workers' user counts
    once a second: the next block waits instead for every worker to say it is ready again
    (`client_ready`, Locust's answer to `stop`)."""
    runner.stop(send_stop_to_client=False)
    for client in list(runner.clients.all):
        runner.server.send_to_client(Message("stop", None, client.id))


def _start_block(
    env: Environment, runner: MasterRunner, plan: LoadPlan, files: MasterFiles, ending: Ending
) -> float | None:
    """Once `spec.workers` workers are ready, fix t0 and spawn the users with the plan and
    t0 in the spawn message; t0 once every user is spawned, None when that failed."""
    workers = plan.spec.workers
    if not _wait_until(lambda: len(runner.clients.ready) >= workers, READY_TIMEOUT_S, ending):
        ending.stop(f"only {len(runner.clients.ready)} of {workers} workers connected")
        return None
    t0 = plan.t0 if plan.t0 is not None else time.time() + SPAWN_LEAD_S
    env.host = plan.target_url
    env.parsed_options = _options_with_plan(plan, t0)
    for client in runner.clients.ready:
        files.enroll(runner.get_worker_index(client.id), client.id)
    runner.start(plan.spec.connections, spawn_rate=max(plan.spec.connections, 1) * 100.0)
    if not _wait_until(lambda: runner.spawning_completed, READY_TIMEOUT_S, ending):
        ending.stop("the workers did not finish spawning users")
        return None
    return t0


def _save_state(path: Path, state: dict[str, Any], files: MasterFiles) -> None:
    write_status(path, {**state, "workers": files.roster()})


def _watch_workers(runner: MasterRunner, files: MasterFiles, save: Callable[[], None]) -> None:
    """Name a worker lost once Locust finds it missing (no heartbeat) or it quit before its
    share was done; save the state (the roster) each turn."""
    while True:
        present = {c.id for c in runner.clients.all if c.state != STATE_MISSING}
        for books in files.mark_lost(present, time.time()):
            print(
                f"worker w{books.index} ({books.client_id}) lost: {books.records} records"
                " received before it went missing",
                file=sys.stderr,
            )
        save()
        gevent.sleep(WATCH_S)


def await_master_port(state_path: Path, timeout: float, parent_pid: int | None) -> int | None:
    """The port in the master's state file, once it listens; None after `timeout` or when
    the orchestrator is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        port = master_port(state_path)
        if port is not None:
            return port
        if _orphaned(parent_pid):
            return None
        time.sleep(0.02)
    return None


def _orphaned(parent_pid: int | None) -> bool:
    """The process `parent_pid` that started this one is gone (re-parented)."""
    return parent_pid is not None and os.getppid() != parent_pid


def run_worker(
    master_host: str,
    master_port: int | Path,
    parent_pid: int | None,
) -> int:
    """`master_port`: the port, or the master's state file to read it from."""
    delay = float(os.environ.get(SLOW_START_ENV) or 0)
    if delay > 0:
        print(f"{SLOW_START_ENV}: starting {delay:g}s late", file=sys.stderr)
        time.sleep(delay)
    enable_gevent()  # before any gRPC route's channel
    runner_box: list[WorkerRunner] = []

    def send(batch: dict[str, Any]) -> None:
        runner_box[0].send_message(BATCH_MESSAGE, batch)

    states = [WorkerState(send)]
    """One a block: the master's series (`--plan` repeated) starts each after Locust's stop."""
    cls = user_class(states[0])
    env = Environment(user_classes=[cls])
    plan_wait = READY_TIMEOUT_S if parent_pid is not None else None

    def on_test_start(environment: Environment, **_: Any) -> None:
        options = environment.parsed_options
        plan = LoadPlan.model_validate_json(getattr(options, PLAN_OPTION))
        if states[-1].plan is not None:  # the next block: its users are not spawned yet
            states.append(WorkerState(send))
            cls.state = states[-1]
            gevent.spawn(_take_share, states[-1], runner_box[0], plan_wait, ending.stop)
        aim(cls, plan)
        states[-1].set_plan(plan, float(getattr(options, T0_OPTION)))

    # Listen before connecting: the spawn message can come right behind the master's ack
    # and be handled inside create_worker_runner() (a process the OS did not run for a
    # moment finds both queued); a listener added afterwards misses its test_start.
    env.events.test_start.add_listener(on_test_start)
    # Locust retries a master that does not answer for 5 minutes; SIGTERM must end that at
    # once (in a pod this process is PID 1, which ignores a signal it has no handler for,
    # so its deletion would wait out the grace period).
    unconnected = gevent.signal_handler(signal.SIGTERM, _quit_unconnected, master_host, master_port)
    # What the process holds by now (Locust, gevent, pydantic's models: ~100 k objects)
    # lives as long as it does: frozen, the collector's full collections no longer walk it
    # (collections were 15 % of a worker's CPU at 6000 RPS, full ones half of that). Before
    # it connects: the master fixes t0 once its workers are ready, so this delays no request.
    gc.collect()
    gc.freeze()
    if isinstance(master_port, Path):
        found = await_master_port(master_port, READY_TIMEOUT_S, parent_pid)
        if found is None:
            print(f"the Locust master wrote no port to {master_port}", file=sys.stderr)
            return 2
        master_port = found
    print(f"connecting to the Locust master at {master_host}:{master_port}", file=sys.stderr)
    try:
        runner = env.create_worker_runner(master_host, master_port)
    except ConnectionError:
        print(f"no Locust master answered at {master_host}:{master_port}", file=sys.stderr)
        return 2
    assert isinstance(runner, WorkerRunner)
    runner_box.append(runner)
    # SIGTERM mid-schedule (a stopped run): what this worker recorded since its last batch
    # goes to the master first, or the run would lose up to a second of its last requests
    ending = Ending(runner, before_quit=lambda: states[-1].ship())

    def housekeeping() -> None:
        while True:
            gevent.sleep(1.0)
            states[-1].ship()

    # A worker its orchestrator started gives up if no plan came in time; one of another
    # machine waits as long as Locust keeps it connected (its master's heartbeats).
    before_t0 = time.time() + READY_TIMEOUT_S * 2 if parent_pid is not None else None
    gevent.spawn(housekeeping)
    gevent.spawn(_take_share, states[0], runner, plan_wait, ending.stop)
    gevent.spawn(
        _watchdog,
        lambda: _deadline(states[-1].plan, states[-1].t0, before_t0),
        parent_pid,
        ending.stop,
    )
    gevent.signal_handler(signal.SIGTERM, ending.stop, "SIGTERM")
    unconnected.cancel()
    runner.greenlet.join()
    if ending.reason is None:
        print("stopping: the Locust master ended the test (quit message)", file=sys.stderr)
    return _farewell(states, runner.worker_index, runner.client_id)


def _farewell(states: Sequence[WorkerState], index: int, client_id: str) -> int:
    """Say what the worker shipped (exit code 0), or that a block's share was never
    taken (1)."""
    batchers = [state.batcher for state in states]
    if any(state.pacer is None for state in states) or None in batchers:
        print("the worker stopped before it took its share of the schedule", file=sys.stderr)
        return 1
    shipped = sum(b.shipped for b in batchers if b is not None)
    batches = sum(b.batches for b in batchers if b is not None)
    blocks = f" ({len(states)} blocks)" if len(states) > 1 else ""
    print(
        f"worker w{index} ({client_id}): shipped {shipped} records in {batches} batches{blocks}",
        file=sys.stderr,
    )
    return 0


def _quit_unconnected(host: str, port: int) -> None:
    """SIGTERM before the master answered: nothing was taken or sent, so nothing is lost."""
    print(f"stopping: SIGTERM while connecting to the master at {host}:{port}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(1)


def _take_share(
    state: WorkerState,
    runner: WorkerRunner,
    plan_wait: float | None,
    stop: Callable[[str], None],
) -> None:
    """Once the master announced the plan and t0, keep the share of the schedule the
    master's index names, opening connections as requests fall due with every connection
    busy."""
    if not state.announced.wait(plan_wait):
        stop(f"no plan from the master within {plan_wait:g}s")
        return
    try:
        state.begin(runner.worker_index)
    except (RuntimeError, OSError) as exc:
        stop(f"cannot take its share of the schedule: {exc}")
        return
    grow_connections(state, lambda n: runner.spawn_users({USER_CLASS_NAME: n}))


class Ending:
    """Why a Locust process stops, said once on stderr (its log), then the runner quits."""

    def __init__(
        self, runner: MasterRunner | WorkerRunner, before_quit: Callable[[], None] | None = None
    ) -> None:
        self.runner = runner
        self.reason: str | None = None
        self._before_quit = before_quit

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            print(f"stopping: {reason}", file=sys.stderr)
            if self._before_quit is not None:
                self._before_quit()
            self.runner.quit()


def _address(text: str) -> tuple[str, int]:
    try:
        return master_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.load.locust_main")
    sub = parser.add_subparsers(dest="role", required=True)
    master = sub.add_parser("master")
    master.add_argument("--plan", type=Path, required=True, action="append")
    master.add_argument("--state", type=Path, required=True, action="append")
    master.add_argument("--bind", default="127.0.0.1")
    master.add_argument("--port", type=int, default=0)
    worker = sub.add_parser("worker")
    where = worker.add_mutually_exclusive_group(required=True)
    where.add_argument("--master", type=_address, metavar="HOST:PORT")
    where.add_argument("--master-host", metavar="HOST", help="with --master-state")
    worker.add_argument("--master-state", type=Path, metavar="STATE")
    worker.add_argument("--parent-pid", type=int, default=None)
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
    if args.role == "master":
        if len(args.plan) != len(args.state):
            print("master: give one --state for each --plan", file=sys.stderr)
            return 2
        blocks = [
            (LoadPlan.read(plan), state) for plan, state in zip(args.plan, args.state, strict=True)
        ]
        return run_master(blocks, args.bind, args.port)
    if args.master is not None:
        host, port = args.master
        return run_worker(host, port, args.parent_pid)
    if args.master_state is None:
        print("worker --master-host needs --master-state", file=sys.stderr)
        return 2
    return run_worker(args.master_host.strip("[]"), args.master_state, args.parent_pid)


if __name__ == "__main__":
    sys.exit(main())
