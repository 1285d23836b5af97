"""The fixture run's traffic: its requests and the spans they leave, drawn from a seeded
generator along the run's `Timeline` (harness.bench.synthetic_run makes the run of them)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.records import normalize_requests
from mesh_runtime.topology import Topology


@dataclass(frozen=True)
class Timeline:
    warmup: float
    end: float
    fault_start: float
    fault_end: float


def on_time_requests(times: np.ndarray, latency: np.ndarray, failing: np.ndarray) -> pd.DataFrame:
    """Requests sent at their intended `times`, answered after `latency` ms, 503 where
    `failing` else 200, each with a trace id: normalized as the analysis reads them."""
    return normalize_requests(
        pd.DataFrame(
            {
                "intended_s": times,
                "sent_s": times,
                "latency_ms": latency,
                "corrected_ms": latency,
                "status": np.where(failing, 503, 200),
                "trace_id": [f"{i:032x}" for i in range(len(times))],
            }
        )
    )


def synthetic_requests(
    rng: np.random.Generator, rps: float, line: Timeline, behind_s: float = 0.0
) -> pd.DataFrame:
    """Open-loop requests: errors and slow retries during the fault, a short tail after.
    With `behind_s`, the load falls behind while the fault lasts: the send lag grows to
    `behind_s` at the fault's end and is made up 2 s later."""
    return requests_between(rng, rps, line, (0, int(rps * line.end)), behind_s)


def requests_between(
    rng: np.random.Generator,
    rps: float,
    line: Timeline,
    numbers: tuple[int, int],
    behind_s: float = 0.0,
) -> pd.DataFrame:
    """The requests numbered [first, stop) of `synthetic_requests`' schedule (a big run is
    made a slice at a time; a slice draws its own random values)."""
    intended = np.arange(*numbers) / rps
    n = len(intended)
    during = (intended >= line.fault_start) & (intended < line.fault_end)
    tail = (intended >= line.fault_end) & (intended < line.fault_end + 2)
    lag = rng.exponential(0.2, n) / 1000 + np.where(during, rng.exponential(8, n) / 1000, 0)
    if behind_s:
        ramp = (intended - line.fault_start) / (line.fault_end - line.fault_start) * behind_s
        lag = lag + np.where(during, ramp, 0.0)
    latency = rng.lognormal(np.log(8.0), 0.35, n)
    retried = during & (rng.random(n) < 0.3)
    latency = latency + np.where(retried, rng.normal(60, 10, n).clip(20), 0)
    status = np.full(n, 200)
    status[during & (rng.random(n) < 0.03)] = 503
    status[tail & (rng.random(n) < 0.01)] = 503
    no_answer = during & (rng.random(n) < 0.004)
    status[no_answer] = 0
    latency[no_answer] = 1000.0
    high, low = rng.integers(1, 2**62, n), rng.integers(1, 2**62, n)
    trace_ids = [f"{a:016x}{b:016x}" for a, b in zip(high, low, strict=True)]
    return pd.DataFrame(
        {
            "intended_s": intended,
            "sent_s": intended + lag,
            "latency_ms": latency,
            "corrected_ms": latency + lag * 1000,
            "status": status,
            "bytes": np.where(status == 200, 512, 0),
            "route": np.where(rng.random(n) < 0.8, "root", "catalog"),
            "method": "GET",
            "trace_id": trace_ids,
            "error": pd.Series(np.where(no_answer, "ConnectionResetError", "")).replace("", None),
        }
    )


def synthetic_spans(
    rng: np.random.Generator, requests: pd.DataFrame, topology: Topology
) -> pd.DataFrame:
    """The spans of every request, as the sidecars and services would export them."""
    rows: list[dict[str, object]] = []
    graph = topology.call_graph()
    for index, request in enumerate(requests.itertuples(index=False)):
        start_ns = int(request.sent_s * 1e9)
        ids = iter(f"{(index << 20) + k + 1:016x}" for k in range(1000))
        trace: list[dict[str, object]] = []
        _visit(trace, ids, graph, topology.ingress, "f" * 16, start_ns, request.trace_id)
        if request.status != 200:
            trace = [s for s in trace if not str(s["service"]).startswith(("catalog", "cart"))]
        elif rng.random() < 0.01:
            del trace[int(rng.integers(1, len(trace)))]
        rows.extend(trace)
    for orphan in range(5):
        trace_id = f"{orphan + 1:032x}"
        rows.append(
            _span(
                trace_id, f"{orphan + 1:016x}", "", "inventory handle", "SERVER", "inventory", 0, {}
            )
        )
    return pd.DataFrame(rows)


def _visit(
    trace: list[dict[str, object]],
    ids: Iterator[str],
    graph: dict[str, list[str]],
    service: str,
    parent: str,
    start_ns: int,
    trace_id: str,
) -> None:
    inbound, handle = next(ids), next(ids)
    role = {"meshproof.role": "sidecar"}
    trace.append(
        _span(trace_id, inbound, parent, f"{service} inbound", "SERVER", service, start_ns, role)
    )
    trace.append(
        _span(
            trace_id,
            handle,
            inbound,
            f"{service} handle",
            "SERVER",
            service,
            start_ns + 100_000,
            {},
        )
    )
    for callee in graph[service]:
        outbound = next(ids)
        attributes = {**role, "upstream_cluster": f"outbound|80||{callee}"}
        trace.append(
            _span(
                trace_id,
                outbound,
                handle,
                f"{service} outbound",
                "CLIENT",
                service,
                start_ns + 200_000,
                attributes,
            )
        )
        _visit(trace, ids, graph, callee, outbound, start_ns + 300_000, trace_id)


def _span(
    trace_id: str,
    span_id: str,
    parent: str,
    name: str,
    kind: str,
    service: str,
    start_ns: int,
    attributes: dict[str, str],
) -> dict[str, object]:
    span = (trace_id, span_id, parent, name, kind, service)
    return span_record(*span, (start_ns, start_ns + 2_000_000), "OK", attributes)


def span_record(
    trace_id: str,
    span_id: str,
    parent: str,
    name: str,
    kind: str,
    service: str,
    times_ns: tuple[int, int],
    status_code: str,
    attributes: Mapping[str, object],
) -> dict[str, object]:
    """One line of spans.jsonl as the trace sink writes it (instance `<service>-0`)."""
    start_ns, end_ns = times_ns
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "kind": kind,
        "service": service,
        "instance": f"{service}-0",
        "start_ns": start_ns,
        "end_ns": end_ns,
        "status_code": status_code,
        "attributes": json.dumps(attributes),
    }
