"""The run's side of span forwarding (`run --otlp-forward URL`, a target's `traces.forward`).

The deployment's trace sink does the forwarding (mesh_runtime.tracesink.forward): the
harness tells it where to, with the run id as a resource attribute, right after the
deploy, and reads its counts once the run's spans are in. Nothing here is on the load's
path; the end waits a bounded time for the sink's queue to empty.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from harness.store.model import ForwardRecord
from mesh_runtime.errors import MeshproofError
from mesh_runtime.runtimes import Deployment

DRAIN_TIMEOUT_S = 10.0
"""How long the end of a run waits for the sink to send what it still holds."""
GIVE_UP_FAILING = 3
"""Tries failed in a row (about 3.5 s of the sink's backoff) after which the end of a run
no longer waits for the endpoint: what the sink still holds is counted unsent."""
HTTP_TIMEOUT_S = 5.0


class ForwardingUnavailable(MeshproofError):
    """The deployment has no trace sink to forward from, or it did not answer."""


def sink_url(deployment: Deployment) -> str:
    """The trace sink's base URL: an external target's OTLP receiver at its `traces.listen`
    (a wildcard address reached on loopback); the kubernetes runtime's `trace_url`; else the
    sink process's port, published on 127.0.0.1."""
    target = deployment.target
    if target is not None:
        if target.traces is None:
            raise ForwardingUnavailable("the target file has no traces: no span is collected")
        host = target.traces.host
        host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{target.traces.port}"
    if deployment.trace_url:  # a sink in a pod
        return deployment.trace_url
    sink = next((p for p in deployment.processes if p.role == "trace-sink"), None)
    if sink is None or "port" not in sink.ports:
        raise ForwardingUnavailable("no trace sink in this deployment: spans are not forwarded")
    return f"http://127.0.0.1:{sink.ports['port']}"


def start_forwarding(sink: str, url: str, run_id: str) -> None:
    """Tell the sink to send every span from now on to `url`, marked with the run id."""
    # here, not at the top: the sink's forwarder loads aiohttp and OTLP's protobufs, which a
    # run that forwards nothing (most) need not wait for
    from mesh_runtime.tracesink.forward import RUN_ID_ATTRIBUTE

    body = {"url": url, "attributes": {RUN_ID_ATTRIBUTE: run_id}}
    try:
        answer = requests.put(f"{sink}/forward", json=body, timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as exc:
        raise ForwardingUnavailable(f"trace sink {sink}: {exc}") from None
    if answer.status_code != 200:
        raise ForwardingUnavailable(f"trace sink {sink}: {answer.status_code} {answer.text[:200]}")


def forward_stats(sink: str) -> dict[str, Any] | None:
    try:
        answer = requests.get(f"{sink}/stats", timeout=HTTP_TIMEOUT_S)
        answer.raise_for_status()
        stats = answer.json().get("forward")
    except (requests.RequestException, ValueError) as exc:
        raise ForwardingUnavailable(f"trace sink {sink}: {exc}") from None
    return stats if isinstance(stats, dict) else None


def finish_forwarding(
    sink: str,
    timeout_s: float = DRAIN_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> ForwardRecord:
    """Wait (at most `timeout_s`) until the sink holds no unsent span, or its endpoint has
    failed `GIVE_UP_FAILING` tries in a row; its counts then."""
    deadline = clock() + timeout_s
    while True:
        stats = forward_stats(sink)
        if stats is None:
            raise ForwardingUnavailable(f"trace sink {sink}: forwarding was never started")
        drained = stats["queued"] == 0 and stats["in_flight"] == 0
        failing = int(stats.get("failing", 0)) >= GIVE_UP_FAILING
        if drained or failing or clock() >= deadline:
            return forward_record(stats)
        pause(0.1)


def forward_record(stats: dict[str, Any]) -> ForwardRecord:
    """run.json's `forward` from the sink's counts; spans still held are `unsent`."""
    return ForwardRecord(
        url=str(stats["url"]),
        attributes=dict(stats.get("attributes") or {}),
        sent=int(stats["sent"]),
        dropped=int(stats["dropped"]),
        failed=int(stats["failed"]),
        rejected=int(stats.get("rejected", 0)),
        unsent=int(stats["queued"]) + int(stats["in_flight"]),
        exports=int(stats["exports"]),
        failed_exports=int(stats["failed_exports"]),
        last_error=stats.get("last_error"),
    )
