"""The trace sink's CPU per 1000 spans, this tree's sink beside a baseline revision's.

    python -m harness.bench.tracesink [--baseline REV] [--rounds N] [--exports N]

Two real sink processes (`python -m mesh_runtime.tracesink`, the baseline's from `git
archive REV`, default `main`) get the same OTLP/protobuf export POSTs, in turns (a batch
to one, the same batch to the other, the order swapped every round, so a busy host
weighs on both alike). The exports are the sidecar's own encoding (`SpanEncoder`: the
shop's SERVER and CLIENT spans, 200 to an export, as a sidecar sends them at about 1000
spans a second); each sink's CPU (user + system of all its threads, /proc schedstat)
over a batch is its cost. Then a set of random spans of every shape OTLP allows (every
attribute type, nested arrays and kvlists, non-ASCII and escaped text, unknown kinds and
status codes, events, links, tracestate, several resources) goes to both, and the two
spans files must be the same bytes: the bench fails when they are not. Their ids are
valid (trace_id 16 bytes, span_id 8, parent_span_id 8 or none): what the sink does with
invalid ones changed on purpose (refused since session 24, unit-tested in
tests/unit/tracesink), and a baseline older than that stored them, so spans with invalid
ids made the files differ for a reason that is no defect.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from harness.bench.pairs import revision_tree
from harness.bench.procs import spawned
from harness.errors import RunError
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.sidecar.telemetry.otlp import SpanEncoder
from mesh_runtime.sidecar.telemetry.tracing import TRACER_NAME, ProxySpan, SpanRecorder

SESSION_13_BEFORE = "02f23c7"
"""The trace sink before session 13 cut its per-span CPU: `make bench`'s baseline."""
SPANS_PER_EXPORT = 200
_PROTOBUF_HEADERS = {"Content-Type": "application/x-protobuf"}
SERVICES = ("gateway", "frontend", "catalog", "cart", "inventory")


def sidecar_exports(count: int, seed: int) -> list[bytes]:
    """`count` export bodies as the shop's sidecars send them: a SERVER span and a CLIENT
    span per request, the attributes the sidecar sets, now and then a 503 and a flag."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        service = rng.choice(SERVICES)
        resource = {
            "service.name": service,
            "service.instance.id": f"{service}-0",
            "service.version": "v1",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "meshproof",
        }
        encoder = SpanEncoder(resource, TRACER_NAME)
        spans: list[bytes] = []
        recorder = SpanRecorder(spans_of(encoder, spans), rng=rng)
        while len(spans) < SPANS_PER_EXPORT:
            path = rng.choice(("/", "/cart", "/item/12", "/checkout"))
            server = recorder.start_server_span(
                f"inbound {service}", None, {"http.request.method": "GET", "url.path": path}
            )
            upstream = rng.choice(SERVICES)
            attributes: dict[str, str | int] = {
                "http.request.method": "GET",
                "url.path": path,
                "upstream_cluster": upstream,
                "upstream.instance": f"{upstream}-{rng.randrange(2)}",
                "retry.attempt": 1,
            }
            client = recorder.start_client_span(f"outbound {upstream}", server, attributes)
            client.end(rng.choice((200, 200, 200, 200, 503)), rng.choice(("-", "-", "-", "UF")))
            server.end(200)
        bodies.append(encoder.request(spans))
    return bodies


def spans_of(encoder: SpanEncoder, spans: list[bytes]) -> Callable[[ProxySpan], None]:
    """A recorder's `on_end` that appends each ended span, encoded, to `spans`."""
    return lambda span: spans.append(encoder.span(span))


def _text(rng: random.Random) -> str:
    alphabet = 'ab "\\/\n\t\x00\x1f\x7fé€\u2028\U0001f600'
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))


def _any_value(value: AnyValue, rng: random.Random, depth: int = 0) -> None:
    choice = rng.randrange(9 if depth < 2 else 7)
    if choice == 0:
        value.string_value = _text(rng)
    elif choice == 1:
        value.int_value = rng.choice((0, 1, -1, 2**63 - 1, -(2**63), rng.randrange(10**6)))
    elif choice == 2:
        value.double_value = rng.choice(
            (0.0, -0.0, 1.5, 1e300, 5e-324, float("inf"), float("-inf"), float("nan"))
        )
    elif choice == 3:
        value.bool_value = rng.random() < 0.5
    elif choice == 4:
        value.bytes_value = rng.randbytes(rng.randrange(5))
    elif choice == 5:
        pass  # no value set: None
    elif choice == 6:
        value.string_value = rng.choice(("GET", "/", "catalog", ""))  # repeats: the cache
    elif choice == 7:
        value.array_value.SetInParent()
        for _ in range(rng.randrange(3)):
            _any_value(value.array_value.values.add(), rng, depth + 1)
    else:
        value.kvlist_value.SetInParent()
        for _ in range(rng.randrange(3)):
            _key_value(value.kvlist_value.values.add(), rng, depth + 1)


def _key_value(pair: KeyValue, rng: random.Random, depth: int = 0) -> None:
    pair.key = rng.choice(("k", "url.path", "é", 'q"\\', "")) + _text(rng)[:1]
    _any_value(pair.value, rng, depth)


def random_exports(count: int, seed: int, *, invalid_ids: bool = True) -> list[bytes]:
    """`count` export bodies of random spans of every shape (see the module's doc); with
    `invalid_ids`, some trace_ids of a wrong length (none: all ids valid)."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(count):
        request = ExportTraceServiceRequest()
        for _ in range(rng.randrange(1, 4)):
            group = request.resource_spans.add()
            if rng.random() < 0.8:
                for key in ("service.name", "service.instance.id", "other"):
                    pair = group.resource.attributes.add(key=key)
                    _any_value(pair.value, rng)
            for _ in range(rng.randrange(1, 3)):
                scope = group.scope_spans.add()
                scope.scope.name = _text(rng)
                for _ in range(rng.randrange(12)):
                    span = scope.spans.add()
                    span.trace_id = rng.randbytes(rng.choice((16, 16, 0, 3)) if invalid_ids else 16)
                    span.span_id = rng.randbytes(8)
                    span.parent_span_id = rng.randbytes(rng.choice((0, 8)))
                    span.trace_state = _text(rng)
                    span.name = _text(rng)
                    span.kind = rng.choice((0, 1, 2, 3, 4, 5, 9))  # type: ignore[assignment]
                    span.start_time_unix_nano = rng.randrange(2**64)
                    span.end_time_unix_nano = rng.randrange(2**64)
                    for _ in range(rng.randrange(8)):
                        _key_value(span.attributes.add(), rng)
                    if span.attributes and rng.random() < 0.2:  # a key twice: the last value
                        again = span.attributes.add(key=span.attributes[0].key)
                        _any_value(again.value, rng)
                    if rng.random() < 0.3:
                        span.status.code = rng.choice((0, 1, 2, 7))  # type: ignore[assignment]
                        span.status.message = _text(rng)
                    if rng.random() < 0.2:
                        event = span.events.add(name=_text(rng), time_unix_nano=rng.randrange(9))
                        _key_value(event.attributes.add(), rng)
                    if rng.random() < 0.2:
                        link = span.links.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8))
                        _key_value(link.attributes.add(), rng)
        bodies.append(request.SerializeToString())
    return bodies


class Sink:
    """One running sink: where to POST, its process's CPU, its spans file."""

    def __init__(self, name: str, port: int, pid: int, out: Path) -> None:
        self.name, self.host, self.port, self.pid, self.out = name, "127.0.0.1", port, pid, out
        self.url = f"http://127.0.0.1:{port}/v1/traces"
        self.cpu_ms_per_k: list[float] = []
        self._connection: http.client.HTTPConnection | None = None

    def cpu_s(self) -> float:
        """User + system CPU of every thread (ns-resolution scheduler accounting)."""
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def post(self, body: bytes) -> None:
        """One export on the kept-alive connection, as a sidecar's exporter sends them."""
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self._connection.request("POST", "/v1/traces", body, _PROTOBUF_HEADERS)
        answer = self._connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise RunError(f"{self.name} sink answered {answer.status}")

    def spans(self) -> int:
        stats_url = self.url.replace("/v1/traces", "/stats")
        with urllib.request.urlopen(stats_url, timeout=10) as answer:
            return int(json.load(answer)["spans"])


@contextmanager
def sink(name: str, work: Path, source: Path | None) -> Iterator[Sink]:
    port = fresh_port()
    out = work / f"{name}.jsonl"
    command = [sys.executable, "-m", "mesh_runtime.tracesink", "--port", str(port)]
    command += ["--out", str(out)]
    env = {"PYTHONPATH": str(source)} if source else None  # and run there: `-m` puts the
    # working directory first on sys.path
    ready = f"http://127.0.0.1:{port}/ready"
    with spawned(
        f"{name} trace sink",
        command,
        ready_url=ready,
        log=work / f"{name}.log",
        env=env,
        cwd=source,
    ) as proc:
        sink = Sink(name, port, proc.pid, out)
        try:
            yield sink
        finally:
            if sink._connection is not None:
                sink._connection.close()


def _batch(target: Sink, bodies: list[bytes]) -> None:
    spans = len(bodies) * SPANS_PER_EXPORT
    before = target.cpu_s()
    for body in bodies:
        target.post(body)
    target.cpu_ms_per_k.append((target.cpu_s() - before) * 1e3 / spans * 1000)


def run(baseline: str, rounds: int, exports: int, seed: int = 17) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="meshproof-sink-bench-") as tmp:
        work = Path(tmp)
        old = revision_tree(baseline, work)
        bodies = sidecar_exports(exports, seed)
        with sink("current", work, None) as new_sink, sink("baseline", work, old) as old_sink:
            for body in bodies[:5]:  # warm both (imports done, caches filled)
                new_sink.post(body)
                old_sink.post(body)
            for n in range(rounds):
                pair = (new_sink, old_sink) if n % 2 == 0 else (old_sink, new_sink)
                for target in pair:
                    _batch(target, bodies)
            odd = random_exports(300, seed + 1, invalid_ids=False)  # see the module's doc
            for body in odd:
                new_sink.post(body)
                old_sink.post(body)
            same = new_sink.out.read_bytes() == old_sink.out.read_bytes()
            written = new_sink.spans()
        now = [statistics.median(new_sink.cpu_ms_per_k)]
        was = [statistics.median(old_sink.cpu_ms_per_k)]
        lower = sum(
            a < b for a, b in zip(new_sink.cpu_ms_per_k, old_sink.cpu_ms_per_k, strict=True)
        )
        return {
            "baseline": baseline,
            "rounds": rounds,
            "spans_per_round": exports * SPANS_PER_EXPORT,
            "current_ms_per_1000_spans": new_sink.cpu_ms_per_k,
            "baseline_ms_per_1000_spans": old_sink.cpu_ms_per_k,
            "median_current": now[0],
            "median_baseline": was[0],
            "ratio": now[0] / was[0] if was[0] else float("nan"),
            "current_lower_in": lower,
            "spans_files_identical": same,
            "spans_written": written,
            "random_exports": len(odd),
            "load_average": Path("/proc/loadavg").read_text().split()[:3],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.tracesink")
    parser.add_argument("--baseline", default="main", metavar="REV")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--exports", type=int, default=50, help="export POSTs a batch")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = run(args.baseline, args.rounds, args.exports)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        cur = " ".join(f"{v:.1f}" for v in result["current_ms_per_1000_spans"])
        old = " ".join(f"{v:.1f}" for v in result["baseline_ms_per_1000_spans"])
        print(f"trace sink CPU ms per 1000 spans ({result['spans_per_round']} spans a batch)")
        print(f"  this tree:        {cur}  median {result['median_current']:.1f}")
        print(f"  {args.baseline:17s} {old}  median {result['median_baseline']:.1f}")
        print(
            f"  ratio {result['ratio']:.2f} (this tree lower in {result['current_lower_in']} of"
            f" {args.rounds} rounds); load average {' '.join(result['load_average'])};"
            f" {time.monotonic() - started:.0f} s"
        )
        verdict = "identical" if result["spans_files_identical"] else "DIFFERENT"
        print(
            f"  spans files after the same exports (+{result['random_exports']} random ones):"
            f" {verdict}, {result['spans_written']} spans"
        )
    return 0 if result["spans_files_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
