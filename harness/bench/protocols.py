"""gRPC, TCP and HTTP/2 through the sidecar pair, beside direct and an HAProxy pair.

    python -m harness.bench.protocols [--only grpc,tcp,h2] [--rps 1000] [--connections 16]
                                      [--seconds 10] [--rounds 3] [--baseline REV]

- grpc: fortio's gRPC ping (`fortio load -grpc -ping`, 1 KiB payloads) at a constant rate
  to fortio's gRPC server: direct, through an HAProxy pair in TCP mode (the floor), and
  through the mTLS sidecar pair (the service declared `protocol: grpc`: HTTP/2 with prior
  knowledge into the client sidecar, HTTP/2 over mTLS between the sidecars, h2c to the
  app). Added p50 / p90 / p99, sidecar cores per 1000 RPS and RSS, as the HTTP table.
  With `--baseline REV`, git revision REV's mTLS pair runs beside it (mesh-mtls-base).
- tcp: fortio's TCP echo through the pair (`protocol: tcp`: the client sidecar's L4
  listener, mTLS between the sidecars), at 1 and 16 connections: latency at a constant
  rate with 1 KiB, and throughput (MB/s echoed) as fast as it goes with 64 KiB.
- h2: 100 concurrent streams on one HTTP/2 connection through the pair, each asking the
  echo server to wait a different time (one of them 300 ms): how late each stream ends
  after its own wait, and the whole batch against its slowest stream (head-of-line
  blocking would hold the quick streams behind the slow one).

Set-ups are measured side by side, interleaved round by round, in one run; the load
average at the start is printed.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events

from harness.bench.fortio_rounds import PERCENTILES, Sample, interleaved, measure
from harness.bench.mesh import print_report, print_request_paths, summarise
from harness.bench.pairs import (
    Target,
    haproxy_pair,
    request_paths,
    revision_tree,
    sidecar_mtls_pair,
    trace_sink,
)
from harness.bench.procs import fortio_server
from harness.errors import RunError
from mesh_runtime.runtimes.ports import fresh_port

SECTIONS = ("grpc", "tcp", "h2")
GRPC = ("-grpc", "-ping")
TCP_RATES = {1: 500.0, 16: 1000.0}
"""Constant rate of the TCP latency runs, by connections."""
TCP_BULK = 64 * 1024
H2_STREAMS = 100
H2_SLOWEST_MS = 300


@dataclass(frozen=True)
class Servers:
    """fortio's servers: the HTTP echo URL, the gRPC port, the TCP echo port."""

    http: str
    grpc: int
    tcp: int

    @property
    def http_port(self) -> int:
        return int(self.http.rsplit(":", 1)[1])


@contextmanager
def servers() -> Iterator[Servers]:
    grpc, tcp = fresh_port(), fresh_port()
    with fortio_server(grpc_port=grpc, tcp_port=tcp) as url:
        yield Servers(url, grpc, tcp)


def grpc_bench(
    work: Path,
    rps: float,
    connections: int,
    seconds: float,
    rounds: int,
    baseline: str | None = None,
) -> None:
    """The gRPC table; with `baseline` (a git revision) its mTLS pair beside this tree's."""
    old = revision_tree(baseline, work) if baseline is not None else None
    if old is not None:
        print_request_paths(request_paths(old))
    with servers() as fortio, trace_sink(work) as otlp, ExitStack() as stack:
        targets = [
            Target("direct", f"127.0.0.1:{fortio.grpc}", None, {}),
            stack.enter_context(haproxy_pair(fortio.grpc, work, mode="tcp")),
            stack.enter_context(
                sidecar_mtls_pair(fortio.grpc, work, otlp, name="mesh-mtls", protocol="grpc")
            ),
        ]
        if old is not None:
            pair = sidecar_mtls_pair(fortio.grpc, work, otlp, old, "mesh-mtls-base", "grpc")
            targets.append(stack.enter_context(pair))
        _, samples = interleaved(
            targets, rounds, lambda t, s: measure(t, rps, connections, s, GRPC), seconds, "grpc "
        )
    print("\ngRPC unary (fortio -grpc -ping, 1 KiB) through the pair:")
    print_report(summarise(samples))


def tcp_bench(work: Path, seconds: float, rounds: int) -> None:
    with servers() as fortio, trace_sink(work) as otlp, ExitStack() as stack:
        targets = [
            Target("direct", f"tcp://127.0.0.1:{fortio.tcp}", None, {}),
            _tcp_url(stack.enter_context(haproxy_pair(fortio.tcp, work, mode="tcp"))),
            stack.enter_context(
                sidecar_mtls_pair(fortio.tcp, work, otlp, name="mesh-mtls", protocol="tcp")
            ),
        ]
        latency: dict[int, dict[str, list[Sample]]] = {}
        bulk: dict[int, dict[str, list[Sample]]] = {}
        for conns, rate in TCP_RATES.items():
            steady = partial(_fortio_tcp, rate=rate, conns=conns, payload=1024)
            _, latency[conns] = interleaved(targets, rounds, steady, seconds, f"tcp c={conns} ")
            flat_out = partial(_fortio_tcp, rate=0, conns=conns, payload=TCP_BULK)
            _, bulk[conns] = interleaved(targets, rounds, flat_out, seconds, f"tcp bulk c={conns} ")
    print_tcp(latency, bulk)


def _fortio_tcp(target: Target, seconds: float, *, rate: float, conns: int, payload: int) -> Sample:
    return measure(target, rate, conns, seconds, payload=payload)


def _tcp_url(target: Target) -> Target:
    return Target(target.name, f"tcp://{target.url}", None, target.pids)


def print_tcp(
    latency: dict[int, dict[str, list[Sample]]], bulk: dict[int, dict[str, list[Sample]]]
) -> None:
    print("\nTCP echo through the pair (medians of rounds)")
    print("  set-up      conns   rate    p50 ms   p90 ms   p99 ms  added p50  added p99   MB/s")
    for conns, by_setup in latency.items():
        direct = _median_pct(by_setup["direct"])
        for name, runs in by_setup.items():
            pct = _median_pct(runs)
            mbps = statistics.median(s.bytes_received / s.seconds / 1e6 for s in bulk[conns][name])
            added = (
                ""
                if name == "direct"
                else f"{pct[50.0] - direct[50.0]:9.3f}  {pct[99.0] - direct[99.0]:9.3f}"
            )
            print(
                f"  {name:10} {conns:6d} {TCP_RATES[conns]:6.0f} {pct[50.0]:9.3f}"
                f" {pct[90.0]:8.3f} {pct[99.0]:8.3f}  {added:>20} {mbps:7.1f}"
            )


def _median_pct(runs: list[Sample]) -> dict[float, float]:
    return {p: statistics.median(s.percentiles_ms[p] for s in runs) for p in PERCENTILES}


def h2_waits_ms(streams: int = H2_STREAMS, slowest: int = H2_SLOWEST_MS) -> list[int]:
    """What each stream asks the echo server to wait: 0-45 ms in steps, one at `slowest`."""
    return [slowest if i == 0 else (i % 10) * 5 for i in range(streams)]


def h2_batch(port: int, authority: str, waits_ms: Sequence[int]) -> list[float]:
    """Every request on one h2c connection at once; each stream's end (ms after the send)."""
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    conn = h2.connection.H2Connection(config)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        waits: dict[int, int] = {}
        for wait in waits_ms:
            stream = conn.get_next_available_stream_id()
            path = f"/echo?delay={wait}ms"
            headers = [(":method", "GET"), (":scheme", "http"), (":path", path)]
            conn.send_headers(stream, [*headers, (":authority", authority)], end_stream=True)
            waits[stream] = wait
        start = time.perf_counter()
        sock.sendall(conn.data_to_send())
        ended: dict[int, float] = {}
        while len(ended) < len(waits):
            data = sock.recv(65536)
            if not data:
                raise RunError(f"the connection closed after {len(ended)} of {len(waits)} streams")
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers or []).get(b":status")
                    if status != b"200":
                        raise RunError(f"stream {event.stream_id} answered {status!r}")
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    ended[event.stream_id] = (time.perf_counter() - start) * 1000
                elif isinstance(event, h2.events.StreamReset):
                    raise RunError(f"stream {event.stream_id} reset ({event.error_code!r})")
            sock.sendall(conn.data_to_send())
    return [ended[stream] for stream in waits]


def h2_bench(work: Path, rounds: int) -> None:
    waits = h2_waits_ms()
    with (
        servers() as fortio,
        trace_sink(work) as otlp,
        sidecar_mtls_pair(fortio.http_port, work, otlp) as pair,
    ):
        port = urlsplit(pair.url).port
        assert port is not None, pair.url  # the pair names its outbound port
        h2_batch(port, "echo", [0] * 10)  # warm the pools
        print(f"\nHTTP/2: {len(waits)} concurrent streams on one connection through the pair")
        print("  round  late p50 ms  late max ms  batch ms  slowest wait ms  batch - slowest")
        for number in range(1, rounds + 1):
            ends = h2_batch(port, "echo", waits)
            late = sorted(end - wait for end, wait in zip(ends, waits, strict=True))
            batch = max(ends)
            print(
                f"  {number:5d} {statistics.median(late):12.2f} {late[-1]:12.2f}"
                f" {batch:9.1f} {max(waits):16d} {batch - max(waits):16.1f}",
                flush=True,
            )
    print(
        "  late: a stream's end after its own wait; the batch ends with its slowest stream"
        " when no stream waits behind another"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.bench.protocols", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help="grpc, tcp, h2 (comma-separated)"
    )
    parser.add_argument("--rps", type=float, default=1000.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="grpc: also run git revision REV's mTLS pair, interleaved (a before / after)",
    )
    args = parser.parse_args(argv)
    chosen = [name for name in args.only.split(",") if name]
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        print(
            f"protocols benchmark: error: unknown section {unknown[0]!r}; the sections are: {', '.join(SECTIONS)}",
            file=sys.stderr,
        )
        return 2
    print(
        f"protocols benchmark: {', '.join(chosen)}; {args.rounds} x {args.seconds:g}s per"
        f" set-up; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="meshproof-bench-protocols-") as tmp:
            for name in chosen:  # each in its own folder: its own CA, sink and logs
                work = Path(tmp) / name
                work.mkdir()
                if name == "grpc":
                    grpc_bench(
                        work, args.rps, args.connections, args.seconds, args.rounds, args.baseline
                    )
                elif name == "tcp":
                    tcp_bench(work, args.seconds, args.rounds)
                else:
                    h2_bench(work, args.rounds)
    except RunError as exc:
        print(f"protocols benchmark: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
