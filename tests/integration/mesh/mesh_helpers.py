"""Helpers of the end-to-end mesh tests: deploying the shop, traffic, spans, sidecar metrics."""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_client.parser import text_string_to_metric_families

from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.local import LocalRuntime
from mesh_runtime.topology import MeshMode


@contextmanager
def deployed(
    topology: Path, root: Path, mode: MeshMode
) -> Iterator[tuple[LocalRuntime, Deployment]]:
    """The topology up on the local runtime for the block; always taken down after."""
    runtime = LocalRuntime(state_root=root, ready_timeout=60)
    deployment = runtime.up(topology, mode=mode)
    try:
        yield runtime, deployment
    finally:
        runtime.down(runtime.load(deployment.name))


def traceparent() -> tuple[str, str, str]:
    """A fresh W3C traceparent header and its trace id and parent span id."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def services_in(answer: dict[str, Any]) -> set[str]:
    """Every service named in a sample-service answer, nested calls included."""
    found = {answer["service"]} if "service" in answer else set()
    for call in answer.get("calls", []):
        found |= services_in(call)
    return found


def spans_of(trace_file: str, trace_id: str) -> list[dict[str, Any]]:
    path = Path(trace_file)
    if not path.exists():
        return []
    spans = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            span = json.loads(line)
            if span["trace_id"] == trace_id:
                spans.append(span)
    return spans


def sidecar_metrics(
    deployment: Deployment, instance: str
) -> dict[tuple[str, str], tuple[float, float]]:
    """(source_workload, destination_service) -> (duration sum ms, count) of reporter=source."""
    record = next(r for r in deployment.instances if r.instance == instance)
    text = requests.get(f"http://127.0.0.1:{record.admin_port}/metrics", timeout=5).text
    out: dict[tuple[str, str], list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "istio_request_duration_milliseconds":
            continue
        for sample in family.samples:
            labels = sample.labels
            if labels.get("reporter") != "source":
                continue
            key = (labels["source_workload"], labels["destination_service"])
            entry = out.setdefault(key, [0.0, 0.0])
            if sample.name.endswith("_sum"):
                entry[0] += sample.value
            elif sample.name.endswith("_count"):
                entry[1] += sample.value
    return {key: (v[0], v[1]) for key, v in out.items()}


class SteadyLoad:
    """GETs of `url` at about `rps` from one thread on one keep-alive connection; every
    response is counted.

    As Go's net/http, browsers and Envoy do (RFC 9112 section 9.3.1), a GET that fails on a
    *reused* keep-alive connection before any response byte came back is sent once more
    on a new connection, and counted in `stale_retries`: the server closed the idle
    connection as the request went out (a draining sidecar does exactly that), so the
    request was never processed. Any other failure counts.
    """

    def __init__(self, url: str, rps: float = 40.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.interval = 1.0 / rps
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.stale_retries = 0
        self._conn: http.client.HTTPConnection | None = None
        self._used = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def failures(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200) + sum(
            self.errors.values()
        )

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.statuses[self._get()] += 1
            except (OSError, http.client.HTTPException) as exc:
                self.errors[type(exc).__name__] += 1
                self._close()
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        self._close()

    def _get(self) -> int:
        """One GET; a reused connection that fails before any response byte is retried once."""
        reused = self._conn is not None and self._used
        try:
            response = self._send()
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            self._close()
            if not reused:
                raise
            self.stale_retries += 1
            response = self._send()
        response.read()
        self._used = True
        if response.will_close:
            self._close()
        return response.status

    def _send(self) -> http.client.HTTPResponse:
        """Send the GET and read the response head."""
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self._used = False
        self._conn.request("GET", self.path)
        return self._conn.getresponse()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
