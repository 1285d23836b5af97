"""Asking every span producer of a deployment to send the spans it holds, now.

The producers are the sidecars and the sample services whose command line names an OTLP
endpoint (`--otlp-endpoint`); a sidecar is asked on its admin port (`POST /spans/flush`,
with the admin token), a service on its own port (`POST /_spans/flush`). Each answers
`{"flushed": true, ...}` once its exporter sent every span ended before the request, and
the trace sink writes an export to its file before it answers it: so once every producer
said `flushed`, the sink's file holds every span that ended before the flush was asked for,
and nothing is left to wait for. A producer that cannot say so (it does not answer, an
older sidecar program without the endpoint, its endpoint did not take the spans in time)
is named in what `flush_span_producers` returns, and the caller waits for the sink's file
to settle instead.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from mesh_runtime.errors import MeshproofError
from mesh_runtime.runtimes.admin import admin_headers
from mesh_runtime.runtimes.deployment import Deployment

HTTP_TIMEOUT_S = 8.0
"""A producer waits up to 5 s for its OTLP endpoint to take the spans before it answers."""
PARALLEL = 32
"""Producers asked at once: every one of a topology of up to 16 instances in one wave, so
a sink that does not answer costs one producer's wait (5 s), not one per wave."""


@dataclass(frozen=True)
class SpanProducer:
    """One process that exports spans, and where to ask it to flush them."""

    name: str
    url: str
    guarded: bool
    """A sidecar's admin endpoint: needs the deployment's admin token."""


def span_producers(deployment: Deployment) -> tuple[list[SpanProducer], list[str]]:
    """The deployment's span producers, and the names of those it cannot reach (no port)."""
    instances = {record.instance: record for record in deployment.instances}
    producers: list[SpanProducer] = []
    unreachable: list[str] = []
    for process in deployment.processes:
        if "--otlp-endpoint" not in process.command:
            continue
        if process.role == "sidecar":
            record = instances.get(process.name.removesuffix("-sidecar"))
            port = record.admin_port if record is not None else None
            path, guarded = "/spans/flush", True
        elif process.role == "service":
            record = instances.get(process.name)
            port = record.app_port if record is not None else None
            path, guarded = "/_spans/flush", False
        else:
            continue
        if record is None or port is None:
            unreachable.append(process.name)
            continue
        url = f"http://{record.address}:{port}{path}"
        producers.append(SpanProducer(process.name, url, guarded))
    return producers, unreachable


def flush_span_producers(deployment: Deployment) -> list[str]:
    """Have every span producer send what it holds; what each producer that could not
    say it did answered instead ("<name>: <why>"), empty when every one did."""
    producers, unreachable = span_producers(deployment)
    problems = [f"{name}: no port to ask" for name in unreachable]
    if not producers:
        return problems
    try:
        guarded = admin_headers(deployment.admin_token_file)
    except MeshproofError as exc:
        guarded = {}
        problems.append(str(exc))
    with ThreadPoolExecutor(min(PARALLEL, len(producers))) as pool:
        answers = pool.map(lambda p: _flush(p, guarded), producers)
        problems += [f"{p.name}: {why}" for p, why in zip(producers, answers, strict=True) if why]
    return problems


def _flush(producer: SpanProducer, guarded: dict[str, str]) -> str:
    """'' when the producer said every span is sent, else why it did not."""
    headers = guarded if producer.guarded else {}
    try:
        answer = requests.post(producer.url, headers=headers, timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as exc:
        return f"no answer ({type(exc).__name__})"
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}"
    try:
        document: Any = answer.json()
    except ValueError:
        return "not a JSON answer"
    flushed = document.get("flushed") if isinstance(document, dict) else None
    if flushed is False:
        return "its OTLP endpoint did not take the spans in time"
    return "" if flushed is True else "no flush answer (a program without the endpoint?)"
