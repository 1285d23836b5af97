"""A real Kubernetes API server on this machine, for tests and benchmarks.

    with LocalApiServer(work_dir, ApiServerBinaries.find()) as server:
        kube = server.client()            # the admin user (group system:masters)
        viewer = server.client("viewer")  # a user with no permissions until RBAC grants some

etcd and kube-apiserver (built by `make setup` at pinned releases) run on 127.0.0.1 ports
below the ephemeral range; the API server makes its own serving certificate (`--cert-dir`),
signs service-account tokens with a key pair made here, and authenticates the users of a
static token file. `--authorization-mode=RBAC`: the admin user is in `system:masters`, which
the bootstrap policy binds to cluster-admin; every other user starts with nothing.
`kubeconfig` has one context per user ("admin" current). Start is ready only when `/readyz`
answers ok; stop SIGTERMs both process groups (SIGKILL after a grace) and keeps the logs.
The users, the token file, the kubeconfig and the keys are harness.kube.credentials'.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from harness.kube.credentials import (
    User,
    kubeconfig_document,
    token_file_rows,
    write_service_account_keys,
)
from mesh_runtime.errors import DeployError, ReadinessTimeout
from mesh_runtime.kube.client import KubeClient
from mesh_runtime.runtimes.ports import port_allocator
from mesh_runtime.runtimes.readiness import Deadline, wait_until
from mesh_runtime.runtimes.supervisor import log_tail
from mesh_runtime.tools import find_binary

HOST = "127.0.0.1"
ADMIN = "admin"
SERVICE_CIDR = "10.96.0.0/16"  # addresses the server allocates to Services; nothing is sent there
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
START_ATTEMPTS = 3  # a port taken between choosing it and the process binding it: try again
_PORT_IN_USE = "address already in use"


@dataclass(frozen=True)
class ApiServerBinaries:
    etcd: Path
    kube_apiserver: Path

    @classmethod
    def find(cls, environ: Mapping[str, str] | None = None) -> ApiServerBinaries:
        """Both binaries (mesh_runtime.tools.find_binary); ToolNotFound names a missing one."""
        return cls(
            etcd=find_binary("etcd", environ=environ),
            kube_apiserver=find_binary("kube-apiserver", environ=environ),
        )


@dataclass
class LoggedProcess:
    """A program of a local cluster, in its own process group, its output in `log`."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def exited(self) -> bool:
        return self.popen.poll() is not None


def spawn_logged(log_dir: Path, name: str, command: list[str]) -> LoggedProcess:
    """Start `command` in a new session, stdout and stderr appended to `log_dir/<name>.log`."""
    log = log_dir / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise DeployError(f"{name}: cannot start {command[0]}: {exc}") from exc
    return LoggedProcess(name, popen, log)


def wait_started(
    process: LoggedProcess, ready: Callable[[], bool], timeout_s: float, *, interval: float
) -> None:
    """Return once `ready()`; DeployError (with the log's tail) if the process exits first,
    ReadinessTimeout after `timeout_s`."""
    deadline = Deadline.after(timeout_s)
    outcome = wait_until(ready, deadline, failed=process.exited, interval=interval)
    if outcome == "ready":
        return
    tail = log_tail(process.log, 15).replace("\n", " | ")
    if outcome == "failed":
        code = process.popen.returncode
        raise DeployError(f"{process.name} exited ({code}) at start; log {process.log}: {tail}")
    raise ReadinessTimeout(
        f"{process.name} not ready after {timeout_s:.0f}s; log {process.log}: {tail}"
    )


class LocalApiServer:
    """etcd + kube-apiserver in `work_dir` (data, certificates, logs, kubeconfig)."""

    def __init__(
        self,
        work_dir: Path,
        binaries: ApiServerBinaries,
        *,
        users: Sequence[User] = (),
        ready_timeout_s: float = 90.0,
        extra_args: Sequence[str] = (),
        ports: Callable[[], tuple[int, int, int]] | None = None,
        host: str = HOST,
    ) -> None:
        self.work_dir = work_dir
        self.host = host
        self.binaries = binaries
        self.users = [User(ADMIN, ("system:masters",)), *users]
        self.ready_timeout_s = ready_timeout_s
        self.extra_args = tuple(extra_args)
        self._ports = ports or free_ports
        self.kubeconfig = work_dir / "kubeconfig"
        self.url = ""
        self.timings: dict[str, float] = {}
        self._processes: list[LoggedProcess] = []

    # --- public face ---------------------------------------------------------------------

    def start(self) -> None:
        """Start etcd, then the API server; return when /readyz says ok (DeployError if not)."""
        started = time.monotonic()
        self._write_credentials()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start_once()
                break
            except DeployError as exc:
                self.stop()
                if _PORT_IN_USE not in str(exc) or attempt == START_ATTEMPTS:
                    raise
        self._write_kubeconfig()
        self.timings["start_to_ready_s"] = time.monotonic() - started

    def client(self, user: str = ADMIN) -> KubeClient:
        """A KubeClient acting as `user` (its context of `kubeconfig`)."""
        return KubeClient.connect(self.kubeconfig, context=user)

    @property
    def pids(self) -> list[int]:
        """The process ids of etcd and the API server while they run."""
        return [process.popen.pid for process in self._processes]

    def user(self, name: str) -> User:
        return next(u for u in self.users if u.name == name)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the API server then etcd, SIGKILL whatever is left after `grace_s`."""
        for process in reversed(self._processes):
            _signal_group(process.popen, signal.SIGTERM)
            try:
                process.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(process.popen, signal.SIGKILL)
                process.popen.wait(timeout=5)
        self._processes.clear()

    def __enter__(self) -> LocalApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the parts -----------------------------------------------------------------------

    @property
    def cert_dir(self) -> Path:
        return self.work_dir / "certs"

    @property
    def ca_file(self) -> Path:
        """The serving certificate chain the API server wrote into --cert-dir (its CA last)."""
        return self.cert_dir / "apiserver.crt"

    def _write_credentials(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        write_service_account_keys(self.work_dir / "sa.key", self.work_dir / "sa.pub")
        tokens = self.work_dir / "tokens.csv"
        with tokens.open("w", newline="") as handle:
            csv.writer(handle).writerows(token_file_rows(self.users))
        tokens.chmod(0o600)

    def _start_once(self) -> None:
        # A failed attempt's member would keep the peer address it was started with.
        shutil.rmtree(self.work_dir / "etcd", ignore_errors=True)
        etcd_port, peer_port, api_port = self._ports()
        began = time.monotonic()
        etcd = self._spawn("etcd", self._etcd_command(etcd_port, peer_port))
        self._wait(etcd, lambda: _http_ok(f"http://{HOST}:{etcd_port}/health"))
        self.timings["etcd_ready_s"] = time.monotonic() - began
        self.url = f"https://{self.host}:{api_port}"
        began = time.monotonic()
        api = self._spawn("kube-apiserver", self._apiserver_command(etcd_port, api_port))
        self._wait(api, self._apiserver_ready)
        self.timings["apiserver_ready_s"] = time.monotonic() - began

    def _etcd_command(self, client_port: int, peer_port: int) -> list[str]:
        client, peer = f"http://{HOST}:{client_port}", f"http://{HOST}:{peer_port}"
        return [
            str(self.binaries.etcd),
            "--name=meshproof",
            f"--data-dir={self.work_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=meshproof={peer}",
            "--unsafe-no-fsync",  # a test server's data need not survive a power cut
            "--log-level=warn",
        ]

    def _apiserver_command(self, etcd_port: int, port: int) -> list[str]:
        work = self.work_dir
        return [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers=http://{HOST}:{etcd_port}",
            f"--bind-address={self.host}",
            f"--advertise-address={self.host}",
            f"--secure-port={port}",
            f"--cert-dir={self.cert_dir}",
            f"--token-auth-file={work / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={work / 'sa.pub'}",
            f"--service-account-signing-key-file={work / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # On loopback the "kubernetes" Service's endpoints would name 127.0.0.1, which the
            # server refuses; on a node's address (harness.kube.localnode) pods reach it there.
            f"--endpoint-reconciler-type={'none' if self.host == HOST else 'lease'}",
            "--profiling=false",
            *self.extra_args,
        ]

    def _spawn(self, name: str, command: list[str]) -> LoggedProcess:
        process = spawn_logged(self.work_dir / "logs", name, command)
        self._processes.append(process)
        return process

    def _wait(self, process: LoggedProcess, ready: Callable[[], bool]) -> None:
        wait_started(process, ready, self.ready_timeout_s, interval=0.1)

    def _apiserver_ready(self) -> bool:
        if not self.ca_file.exists():
            return False
        headers = {"Authorization": f"Bearer {self.user(ADMIN).token}"}
        try:
            answer = requests.get(
                f"{self.url}/readyz", headers=headers, verify=str(self.ca_file), timeout=2
            )
        except (requests.RequestException, OSError):
            return False
        return answer.status_code == 200 and answer.text.strip() == "ok"

    def _write_kubeconfig(self) -> None:
        document = kubeconfig_document(self.url, self.ca_file, self.users)
        self.kubeconfig.write_text(yaml.safe_dump(document, sort_keys=False))
        self.kubeconfig.chmod(0o600)


def free_ports() -> tuple[int, int, int]:
    """Three free ports on 127.0.0.1 (etcd client, etcd peer, API server), below the ephemeral
    range; free when chosen, so another process may still take one before ours binds it."""
    with port_allocator(HOST) as allocate:
        return allocate(), allocate(), allocate()


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _signal_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, sig)
