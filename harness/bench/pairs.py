"""The proxy pairs the mesh benchmark compares, each a context manager yielding a Target.

- HAProxy pair: two single-threaded HAProxy processes, keep-alive both ways;
- sidecar pair: client sidecar + server sidecar on a static config (plain text between
  them), tracing to a real trace sink, metrics on;
- sidecar pair with mTLS: the same two sidecars configured by a real control plane with
  its CA (`mesh.mtls: STRICT`), each holding its own service's bootstrap credential and a
  SPIFFE certificate, so the hop between them is mutual TLS 1.3, as in the shop.

A sidecar pair may run another revision's sidecar code (`source`: a directory holding
that revision's `mesh_runtime`, put first on the sidecars' PYTHONPATH), so an old and a
new sidecar can be measured side by side in one run; see `revision_tree`.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from harness.bench.procs import spawned
from harness.errors import RunError
from mesh_runtime.config import Endpoint, MeshConfig, MeshSettings, ServiceEntry
from mesh_runtime.config.mesh import Protocol
from mesh_runtime.config.scope import sidecar_json
from mesh_runtime.control.credentials import mint_credential
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.sidecar import native
from mesh_runtime.tools import find_binary

SECRET_WAIT_S = 10.0


@dataclass
class Target:
    """One set-up under test: where fortio sends, the Host it names, the proxies' pids."""

    name: str
    url: str
    host: str | None
    pids: dict[str, int]


@contextmanager
def haproxy_pair(upstream_port: int, work: Path, mode: str = "http") -> Iterator[Target]:
    """Two single-threaded HAProxy processes in a row, as a client and a server sidecar;
    `mode` "tcp": at L4 (the floor for gRPC and TCP)."""
    server_port, client_port = fresh_port(), fresh_port()
    binary = str(find_binary("haproxy"))
    with ExitStack() as stack:
        pids = {}
        for role, listen, upstream in (
            ("haproxy-server", server_port, upstream_port),
            ("haproxy-client", client_port, server_port),
        ):
            config = work / f"{role}-{mode}.cfg"
            config.write_text(_haproxy_config(listen, upstream, mode))
            proc = stack.enter_context(
                spawned(
                    role, [binary, "-db", "-f", str(config)], port=listen, log=work / f"{role}.log"
                )
            )
            pids[role] = proc.pid
        url = (
            f"http://127.0.0.1:{client_port}/echo" if mode == "http" else f"127.0.0.1:{client_port}"
        )
        yield Target("haproxy", url, None, pids)


def _haproxy_config(listen: int, upstream: int, mode: str = "http") -> str:
    http = "    option http-keep-alive\n" if mode == "http" else ""
    reuse = "    http-reuse always\n" if mode == "http" else ""
    return f"""global
    nbthread 1
    maxconn 4096
defaults
    mode {mode}
{http}    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend in
    bind 127.0.0.1:{listen}
    default_backend out
backend out
{reuse}    server upstream 127.0.0.1:{upstream}
"""


@dataclass(frozen=True)
class SidecarPorts:
    inbound: int
    outbound: int
    admin: int
    app: int

    @classmethod
    def fresh(cls, app: int) -> SidecarPorts:
        return cls(fresh_port(), fresh_port(), fresh_port(), app)


def echo_config(
    server: SidecarPorts, mtls: bool = False, protocol: Protocol = "http"
) -> MeshConfig:
    """Mesh config: service 'echo' (speaking `protocol`) whose one endpoint is the server
    sidecar, and the calling service 'client' (no endpoints; the CA signs only for services
    it knows, and an inbound takes a plain-text caller's name only when it is a service)."""
    endpoint = Endpoint(instance="echo-0", version="v1", address=f"127.0.0.1:{server.inbound}")
    services = {
        "echo": ServiceEntry(name="echo", protocol=protocol, endpoints=[endpoint]),
        "client": ServiceEntry(name="client"),
    }
    mesh = MeshSettings(mtls="STRICT" if mtls else "DISABLE")
    return MeshConfig(version=1, mesh=mesh, services=services)


def sidecar_command(service: str, ports: SidecarPorts, source: list[str], otlp: str) -> list[str]:
    """The sidecar's command line; `source` is `--config FILE` or the control plane flags."""
    command = [sys.executable, "-m", "mesh_runtime.sidecar", "--service", service]
    command += ["--instance", f"{service}-0", *source]
    command += ["--inbound-port", str(ports.inbound), "--outbound-port", str(ports.outbound)]
    command += ["--app-port", str(ports.app), "--admin-port", str(ports.admin)]
    return [*command, "--otlp-endpoint", otlp, "--log-level", "WARNING"]


@contextmanager
def trace_sink(work: Path, elsewhere: bool = False) -> Iterator[str]:
    """The OTLP/HTTP trace sink process; yields its traces URL. `elsewhere`: it stands for
    a collector on other machines, as in Istio's benchmark: it runs on the CPU time the
    measured processes leave (SCHED_IDLE), never taking a CPU a proxy is waiting for."""
    port = fresh_port()
    command = [sys.executable, "-m", "mesh_runtime.tracesink", "--port", str(port)]
    command += ["--out", str(work / "spans.jsonl")]
    ready = f"http://127.0.0.1:{port}/ready"
    with spawned("trace sink", command, ready_url=ready, log=work / "sink.log") as sink:
        if elsewhere:
            os.sched_setscheduler(sink.pid, os.SCHED_IDLE, os.sched_param(0))
        yield f"http://127.0.0.1:{port}/v1/traces"


def revision_tree(rev: str, work: Path, packages: Sequence[str] = ("mesh_runtime",)) -> Path:
    """The `packages` of git revision `rev` of this repository, unpacked under `work`; the
    directory to put on a sidecar's (a load driver's) PYTHONPATH."""
    repo = Path(__file__).resolve().parents[2]
    command = [str(find_binary("git")), "-C", str(repo), "archive", "--format=tar", rev]
    done = subprocess.run([*command, *packages], capture_output=True, check=False)
    if done.returncode != 0:
        raise RunError(
            f"cannot read revision {rev!r}: {done.stderr.decode(errors='replace').strip()}"
        )
    tree = work / f"rev-{rev.replace('/', '_')}"
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        unpack(archive, tree)
    return tree


def unpack(archive: tarfile.TarFile, tree: Path) -> None:
    """`archive` under `tree`, refused whole (RunError) if any entry is other than a file or
    a directory at a relative path inside it: what tarfile's "data" filter checks, which
    CPython before 3.11.4 lacks (Debian 12's 3.11.2)."""
    for member in archive.getmembers():
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
            raise RunError(f"the revision's archive holds {member.name!r}: not unpacked")
    if hasattr(tarfile, "data_filter"):
        archive.extractall(tree, filter="data")
    else:
        archive.extractall(tree)


def request_path(source: Path | None, env: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """How a sidecar run from `source` (None: this tree) will serve requests: 'compiled'
    when the cache holds a build of its sources (what its `native.activate` looks for),
    else 'Python'. A tree whose sources changed since its last build runs Python until
    `python -m mesh_runtime.sidecar.native build`: beside a compiled baseline it looks
    20-30 % costlier, a difference of builds, not of code."""
    build = native.cache_root(env) / native.digest(source or native.PACKAGE_ROOT)
    if source is None:
        built = bool(native.compiled_files(build))
    else:  # a baseline's build holds its own tree's modules, not this tree's list
        built = (build / native.COMPLETE).is_file()
    return "compiled" if built else "Python"


def request_paths(old: Path | None) -> dict[str, str]:
    """`request_path` of this tree and, with `old` (a baseline's tree), of the baseline."""
    paths = {"this tree": request_path(None)}
    if old is not None:
        paths["baseline"] = request_path(old)
    return paths


def sidecar_pairs(
    stack: ExitStack, upstream_port: int, work: Path, otlp: str, mtls: bool, old: Path | None
) -> Iterator[Target]:
    """The sidecar pairs a bench compares, each entered on `stack` as it is taken: this
    tree's ("mesh", with `mtls` "mesh-mtls"), then with `old` the baseline's ("-base")."""
    for source, suffix in ((None, ""), *(((old, "-base"),) if old is not None else ())):
        yield stack.enter_context(sidecar_pair(upstream_port, work, otlp, source, "mesh" + suffix))
        if mtls:
            pair = sidecar_mtls_pair(upstream_port, work, otlp, source, "mesh-mtls" + suffix)
            yield stack.enter_context(pair)


@contextmanager
def sidecar_pair(
    upstream_port: int, work: Path, otlp: str, source: Path | None = None, name: str = "mesh"
) -> Iterator[Target]:
    """A client sidecar and a server sidecar on a static config, plain text between them."""
    server, client = SidecarPorts.fresh(upstream_port), SidecarPorts.fresh(fresh_port())
    config_file = work / f"{name}.json"
    config_file.write_bytes(sidecar_json(echo_config(server), None))  # a baseline reads it too
    config = ["--config", str(config_file)]
    with ExitStack() as stack:
        pids = _start_sidecars(
            stack, work, _prefix(name), server, client, lambda _: config, otlp, source
        )
        yield Target(name, f"http://127.0.0.1:{client.outbound}/echo", "echo", pids)


@contextmanager
def sidecar_mtls_pair(
    upstream_port: int,
    work: Path,
    otlp: str,
    source: Path | None = None,
    name: str = "mesh-mtls",
    protocol: Protocol = "http",
) -> Iterator[Target]:
    """The sidecar pair configured by a real control plane and CA: mTLS between them.
    `protocol` "grpc": the target is host:port of the client's outbound listener (HTTP/2
    with prior knowledge, `:authority` echo); "tcp": the client sidecar's L4 listener for
    echo (`--tcp-outbound`), as tcp://host:port."""
    server, client = SidecarPorts.fresh(upstream_port), SidecarPorts.fresh(fresh_port())
    tcp_port = fresh_port()
    config_file, token_file = work / f"{name}.json", work / f"{name}-control-token"
    config_file.write_text(echo_config(server, mtls=True, protocol=protocol).model_dump_json())
    token_file.write_text("bench-control-token\n")
    ca_dir, port = work / f"{name}-ca", fresh_port()
    command = [sys.executable, "-m", "mesh_runtime.control", "--config", str(config_file)]
    command += ["--port", str(port), "--token-file", str(token_file), "--ca-dir", str(ca_dir)]
    with ExitStack() as stack:
        ready = f"http://127.0.0.1:{port}/ready"
        stack.enter_context(
            spawned("control plane", command, ready_url=ready, log=work / f"{name}-control.log")
        )
        secret = _read_secret(ca_dir / "bootstrap-secret")

        def flags(service: str) -> list[str]:
            credential = work / f"{name}-{service}.credential"
            credential.write_text(mint_credential(secret, service) + "\n")
            credential.chmod(0o600)
            control = ["--control-plane", f"http://127.0.0.1:{port}"]
            calls_tcp = protocol == "tcp" and service == "client"
            tcp = ["--tcp-outbound", f"echo={tcp_port}"] if calls_tcp else []
            return [*control, "--bootstrap-token-file", str(credential), *tcp]

        pids = _start_sidecars(stack, work, _prefix(name), server, client, flags, otlp, source)
        url = {
            "http": f"http://127.0.0.1:{client.outbound}/echo",
            "grpc": f"127.0.0.1:{client.outbound}",
            "tcp": f"tcp://127.0.0.1:{tcp_port}",
        }[protocol]
        yield Target(name, url, "echo" if protocol != "tcp" else None, pids)


def _prefix(name: str) -> str:
    """Role prefix of a pair's sidecars: '' for 'mesh', 'mtls-' for 'mesh-mtls', and so on."""
    return name.removeprefix("mesh").lstrip("-") + "-" if name != "mesh" else ""


def _start_sidecars(
    stack: ExitStack,
    work: Path,
    prefix: str,
    server: SidecarPorts,
    client: SidecarPorts,
    flags: Callable[[str], list[str]],
    otlp: str,
    source: Path | None = None,
) -> dict[str, int]:
    """Server sidecar first (the client's upstream), then the client; their pids by role."""
    pids = {}
    # `python -m` puts its working directory first on sys.path: in another revision's tree
    # the sidecar imports that tree's mesh_runtime, not the one beside the benchmark's.
    env = {"PYTHONPATH": str(source)} if source else None
    for role, service, ports in (
        (f"{prefix}sidecar-server", "echo", server),
        (f"{prefix}sidecar-client", "client", client),
    ):
        command = sidecar_command(service, ports, flags(service), otlp)
        ready = f"http://127.0.0.1:{ports.admin}/ready"
        proc = stack.enter_context(
            spawned(role, command, ready_url=ready, log=work / f"{role}.log", env=env, cwd=source)
        )
        pids[role] = proc.pid
    return pids


def _read_secret(path: Path) -> str:
    """The CA's bootstrap secret, which the control plane writes on its first start."""
    deadline = time.monotonic() + SECRET_WAIT_S
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text().strip()):
            return text
        time.sleep(0.05)
    raise RunError(f"the control plane wrote no bootstrap secret at {path}")


T = TypeVar("T")


def round_order(targets: Sequence[T], number: int) -> list[T]:
    """The targets (or trees, sides) in round `number` (from 1): as given in odd rounds,
    reversed in even ones. In one fixed order a target measured later in every round (a baseline, last)
    meets more of a load that rises during the run; alternating, each pair of rounds gives
    every two targets the same mean position, so a steady drift cancels out of their
    comparison over an even number of rounds."""
    return list(targets) if number % 2 else list(reversed(targets))
