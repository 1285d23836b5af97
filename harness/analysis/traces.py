"""Trace completeness: does each harness request's trace hold every span it should?

The expected span multiset of one request follows the topology's call graph from the
ingress. A service is *visited* once per call path that reaches it (a DAG: a service
called by two callers is visited twice). Per visit of service `S` calling `C1..Cn`:

mesh mode
    - `S sidecar inbound`: a SERVER span of S's sidecar (the inbound listener);
    - `S handle`: the service's own SERVER span, named `<service> handle`;
    - `S sidecar outbound -> Ci`: a CLIENT span of S's sidecar per call edge.
no-mesh mode
    - `S handle` only.

Spans are told apart by their columns (spans.parquet, DEVELOPING.md): `service` is the
resource's `service.name` (a sidecar reports its service's name); a span named
`<service> handle` is the service's own; any other span of kind SERVER is the sidecar's
inbound span and any other CLIENT span the sidecar's outbound span, whose upstream
service is read from the attribute `meshproof.upstream_service`, `upstream_cluster`,
`meshproof.upstream_cluster`, `destination_service` or `peer.service` (Envoy-style
cluster names like `outbound|80||catalog` are reduced to `catalog`).

A trace is *complete* when every expected span is there at least as often as expected:
retries and retried upstream tries add spans and are allowed. Only requests answered
2xx are judged. A span whose parent is not in its trace is a *broken parent*, except
the ingress entry span, whose parent is the harness's own (unexported) client span. Spans
of traces that no harness request started are *orphans* (e.g. a service that does not
propagate trace context starts new traces).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from harness.analysis.stats import share

Mode = Literal["mesh", "no-mesh"]

UPSTREAM_ATTRIBUTES = (
    "meshproof.upstream_service",
    "upstream_cluster",
    "meshproof.upstream_cluster",
    "destination_service",
    "peer.service",
)
_UPSTREAM_RE = (
    r'"(?:' + "|".join(a.replace(".", r"\.") for a in UPSTREAM_ATTRIBUTES) + r')"\s*:\s*"([^"]*)"'
)
_KINDS = {"1": "INTERNAL", "2": "SERVER", "3": "CLIENT", "4": "PRODUCER", "5": "CONSUMER"}


@dataclass(frozen=True, eq=False)
class TraceReport:
    """The result of `trace_completeness`; `per_trace` has `trace_id, complete`."""

    requests: int
    complete: int
    broken_parent_spans: int
    orphan_spans: int
    orphan_traces: int
    expected: dict[str, int]
    per_trace: pd.DataFrame
    examples: list[dict[str, object]] = field(default_factory=list)

    @property
    def completeness(self) -> float | None:
        """Share of judged requests with a complete trace; None when none were judged."""
        return None if self.requests == 0 else self.complete / self.requests


def expected_spans(
    call_graph: Mapping[str, Sequence[str]], ingress: str, mode: Mode
) -> Counter[str]:
    """The span multiset one request implies (see the module docstring for the labels)."""
    visits: Counter[str] = Counter()
    _visit(call_graph, ingress, visits)
    expected: Counter[str] = Counter()
    for service, count in visits.items():
        expected[f"{service} handle"] += count
        if mode == "mesh":
            expected[f"{service} sidecar inbound"] += count
            for callee in call_graph.get(service, ()):
                expected[f"{service} sidecar outbound -> {callee}"] += count
    return expected


def _visit(call_graph: Mapping[str, Sequence[str]], service: str, visits: Counter[str]) -> None:
    visits[service] += 1
    for callee in call_graph.get(service, ()):
        _visit(call_graph, callee, visits)


def span_labels(spans: pd.DataFrame) -> pd.Series:
    """Each span's label in the vocabulary of `expected_spans` (others: 'other')."""
    service = spans["service"].astype("string").fillna("?")
    name = spans["name"].astype("string").fillna("")
    kind = _normalized_kind(spans["kind"])
    upstream = _upstream(spans["attributes"])
    labels = pd.Series("other", index=spans.index, dtype="string")
    is_server = kind == "SERVER"
    is_client = kind == "CLIENT"
    labels = labels.mask(is_server, service + " sidecar inbound")
    labels = labels.mask(is_client, service + " sidecar outbound -> " + upstream.fillna("?"))
    labels = labels.mask(name == service + " handle", service + " handle")
    return labels


def _normalized_kind(kind: pd.Series) -> pd.Series:
    text = kind.astype("string").fillna("").str.upper().str.replace("SPAN_KIND_", "", regex=False)
    return text.replace(_KINDS)


def _upstream(attributes: pd.Series) -> pd.Series:
    raw = attributes.astype("string").str.extract(_UPSTREAM_RE, expand=False)
    # Envoy cluster names: 'outbound|80||catalog.default.svc.cluster.local' -> 'catalog'.
    last = raw.str.split("|").str[-1]
    return last.str.split(".").str[0].replace("", pd.NA)


def trace_completeness(
    spans: pd.DataFrame,
    requests: pd.DataFrame,
    call_graph: Mapping[str, Sequence[str]],
    ingress: str,
    mode: Mode,
    examples: int = 20,
) -> TraceReport:
    """Judge every 2xx harness request's trace against the call graph's expected spans."""
    expected = expected_spans(call_graph, ingress, mode)
    harness_ids = set(requests["trace_id"].dropna().astype(str))
    judged = requests[(requests["status"] >= 200) & (requests["status"] < 300)]
    judged_ids = pd.Index(judged["trace_id"].dropna().astype(str).unique(), name="trace_id")
    spans = spans.assign(trace_id=spans["trace_id"].astype(str), label=span_labels(spans))
    in_run = spans["trace_id"].isin(harness_ids)
    counts = _label_counts(spans[in_run], judged_ids, expected)
    deficit = _deficit(counts, expected)
    complete = (deficit.sum(axis=1) == 0) if len(deficit.columns) else pd.Series(True, judged_ids)
    per_trace = pd.DataFrame({"trace_id": judged_ids, "complete": complete.to_numpy(bool)})
    orphans = spans[~in_run]
    entry = f"{ingress} sidecar inbound" if mode == "mesh" else f"{ingress} handle"
    return TraceReport(
        requests=len(judged_ids),
        complete=int(per_trace["complete"].sum()),
        broken_parent_spans=_broken_parents(spans[in_run], entry),
        orphan_spans=len(orphans),
        orphan_traces=int(orphans["trace_id"].nunique()),
        expected=dict(expected),
        per_trace=per_trace,
        examples=_examples(deficit, counts, examples),
    )


def _label_counts(spans: pd.DataFrame, ids: pd.Index, expected: Counter[str]) -> pd.DataFrame:
    counts = spans.groupby(["trace_id", "label"]).size().unstack(fill_value=0)
    counts = counts.reindex(index=ids, fill_value=0)
    return counts.reindex(columns=sorted(set(counts.columns) | set(expected)), fill_value=0)


def _deficit(counts: pd.DataFrame, expected: Counter[str]) -> pd.DataFrame:
    want = pd.Series({label: expected[label] for label in sorted(expected)}, dtype="int64")
    have = counts[want.index] if len(want) else counts.iloc[:, :0]
    return (want - have).clip(lower=0)


def _broken_parents(spans: pd.DataFrame, entry_label: str) -> int:
    parent = spans["parent_span_id"].astype("string").fillna("")
    has_parent = parent != ""
    own = pd.MultiIndex.from_arrays([spans["trace_id"], spans["span_id"].astype(str)])
    wanted = pd.MultiIndex.from_arrays([spans["trace_id"], parent.astype(str)])
    missing = has_parent.to_numpy() & ~wanted.isin(own)
    is_entry = (spans["label"] == entry_label).to_numpy()
    return int(np.sum(missing & ~is_entry))


def _examples(deficit: pd.DataFrame, counts: pd.DataFrame, limit: int) -> list[dict[str, object]]:
    if deficit.empty:
        return []
    incomplete = deficit[deficit.sum(axis=1) > 0].head(limit)
    out: list[dict[str, object]] = []
    for trace_id, row in incomplete.iterrows():
        missing = [f"{label} x{int(n)}" if n > 1 else str(label) for label, n in row.items() if n]
        out.append(
            {
                "trace_id": str(trace_id),
                "missing": missing,
                "spans": int(counts.loc[trace_id].sum()),
            }
        )
    return out


def completeness_of(report: TraceReport | None, requests: pd.DataFrame) -> float | None:
    """Trace completeness over a subset of requests (e.g. one phase's), 2xx only."""
    if report is None:
        return None
    judged = requests[(requests["status"] >= 200) & (requests["status"] < 300)]
    ids = judged["trace_id"].dropna().astype(str)
    flags = report.per_trace.set_index("trace_id")["complete"]
    return share(ids.map(flags).fillna(False).astype(bool))
