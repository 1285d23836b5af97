"""Processes a benchmark starts on 127.0.0.1: started in their own session, waited on by
polling a TCP port or an HTTP URL, killed with their process group on exit, also when the
benchmark is stopped with SIGTERM (`kill`, `timeout`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import requests

from harness.errors import RunError
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.tools import find_binary

START_TIMEOUT_S = 20.0


def _ready(port: int | None, url: str | None) -> bool:
    if url is not None:
        try:
            return requests.get(url, timeout=0.5).status_code == 200
        except requests.RequestException:
            return False
    try:
        socket.create_connection(("127.0.0.1", port or 0), timeout=0.5).close()
        return True
    except OSError:
        return False


def unwind_on_sigterm() -> None:
    """Have SIGTERM end the benchmark's `with` blocks, so that the processes it started go
    with it: by default SIGTERM ends Python at once, and they ran on in their own sessions
    (a killed bench left its sidecars, apps and trace sink behind). Only in the main
    thread, and only where nothing else handles SIGTERM already."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def spawned(
    name: str,
    command: Sequence[str],
    *,
    port: int | None = None,
    ready_url: str | None = None,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` until the block ends; ready when `port` accepts or `ready_url` is 200.
    `env`: variables set for the command on top of this process's; `cwd`: where it runs."""
    unwind_on_sigterm()
    out = log.open("wb") if log else subprocess.DEVNULL
    environment = {**os.environ, **env} if env else None
    proc = subprocess.Popen(
        list(command), stdout=out, stderr=out, start_new_session=True, env=environment, cwd=cwd
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ready(port, ready_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RunError(f"{name} did not start (exit {proc.poll()}; see {log or 'no log'})")
            time.sleep(0.05)
        yield proc
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


@contextmanager
def fortio_server(
    host: str = "127.0.0.1", grpc_port: int | None = None, tcp_port: int | None = None
) -> Iterator[str]:
    """fortio's echo server (Go) with its other listeners off; yields its base URL. `host`:
    another address of this machine to listen on (a test's veth address); `grpc_port`,
    `tcp_port`: also serve fortio's gRPC ping service, its TCP echo, on these ports."""
    with fortio_process(host, grpc_port, tcp_port) as (url, _):
        yield url


@contextmanager
def fortio_process(
    host: str = "127.0.0.1",
    grpc_port: int | None = None,
    tcp_port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`fortio_server`, yielding its process too (for its CPU); `env`: variables for it
    (`GOMAXPROCS`)."""
    port = fresh_port()
    listeners = {"-grpc-port": grpc_port, "-tcp-port": tcp_port}
    off = ["-redirect-port", "disabled", "-udp-port", "disabled"]
    for flag, value in listeners.items():
        off += [flag, f"{host}:{value}" if value else "disabled"]
    command = [str(find_binary("fortio")), "server", "-http-port", f"{host}:{port}", *off]
    url = f"http://{host}:{port}"
    ready = {"port": port} if host == "127.0.0.1" else {"ready_url": f"{url}/"}
    with spawned("fortio server", [*command, "-quiet"], env=env, **ready) as proc:
        yield url, proc
