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

A load route that calls a service at the ingress's sidecar (a gRPC route: the
*gateway* listener, `:authority` naming the service; in no-mesh mode the service itself)
enters the graph there: its request implies `<ingress> sidecar outbound -> S` (mesh mode)
and the visit of S, never the ingress's own spans (`entries`: route name -> S).

A trace is *complete* when every expected span is there at least as often as expected:
retries and retried upstream tries add spans and are allowed. Only requests answered
2xx are judged. A span whose parent is not in its trace is a *broken parent*, except
the request's entry span, whose parent is the harness's own (unexported) client span. Spans
of traces that no harness request started are *orphans* (e.g. a service that does not
propagate trace context starts new traces).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harness.analysis.stats import share
from harness.store.model import TraceSummary
from harness.store.tables import SPAN_COLUMNS

Mode = Literal["mesh", "no-mesh"]

UPSTREAM_ATTRIBUTES = (
    "meshproof.upstream_service",
    "upstream_cluster",
    "meshproof.upstream_cluster",
    "destination_service",
    "peer.service",
)
_UPSTREAM_RE = (
    r'"(?:'
    + "|".join(a.replace(".", r"\.") for a in UPSTREAM_ATTRIBUTES)
    + r')"\s*:\s*"(?P<upstream>[^"]*)"'
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
    expected_by_route: dict[str, dict[str, int]] = field(default_factory=dict)
    """The span multiset of each route that enters elsewhere than the ingress (`entries`)."""

    @property
    def completeness(self) -> float | None:
        """Share of judged requests with a complete trace; None when none were judged."""
        return None if self.requests == 0 else self.complete / self.requests

    def summary(self) -> TraceSummary:
        """The run.json form (`RunRecord.traces`): the counts and the examples."""
        return TraceSummary(
            requests=self.requests,
            complete=self.complete,
            broken_parent_spans=self.broken_parent_spans,
            orphan_spans=self.orphan_spans,
            orphan_traces=self.orphan_traces,
            expected=self.expected,
            examples=self.examples,
            expected_by_route=self.expected_by_route,
        )


def expected_spans(
    call_graph: Mapping[str, Sequence[str]], ingress: str, mode: Mode, entry: str | None = None
) -> Counter[str]:
    """The span multiset one request implies (see the module docstring for the labels);
    `entry`: the service a route calls at the ingress's sidecar (None: the ingress's own)."""
    visits: Counter[str] = Counter()
    _visit(call_graph, entry or ingress, visits)
    expected: Counter[str] = Counter()
    if entry is not None and mode == "mesh":
        expected[f"{ingress} sidecar outbound -> {entry}"] += 1
    for service, count in visits.items():
        expected[f"{service} handle"] += count
        if mode == "mesh":
            expected[f"{service} sidecar inbound"] += count
            for callee in call_graph.get(service, ()):
                expected[f"{service} sidecar outbound -> {callee}"] += count
    return expected


def entry_label(ingress: str, mode: Mode, entry: str | None = None) -> str:
    """The label of a request's first span, whose parent is the harness's own client span."""
    if entry is None:
        return f"{ingress} sidecar inbound" if mode == "mesh" else f"{ingress} handle"
    return f"{ingress} sidecar outbound -> {entry}" if mode == "mesh" else f"{entry} handle"


def _visit(call_graph: Mapping[str, Sequence[str]], service: str, visits: Counter[str]) -> None:
    visits[service] += 1
    for callee in call_graph.get(service, ()):
        _visit(call_graph, callee, visits)


def span_labels(spans: pd.DataFrame) -> pd.Series:
    """Each span's label in the vocabulary of `expected_spans` (others: 'other').

    A run has millions of spans but a few dozen distinct shapes: each column is
    dictionary-encoded, the label is worked out once per distinct (service, name, kind,
    upstream) and spread back as a categorical.
    """
    service_codes, services = _encode(spans["service"])
    name_codes, names = _encode(spans["name"])
    kind_codes, kinds = _encode(spans["kind"])
    kinds = [_kind_name(k) for k in kinds]
    client = np.isin(kind_codes, [i for i, k in enumerate(kinds) if k == "CLIENT"])
    upstream_codes, upstreams = _upstream(spans["attributes"], client)
    key = service_codes.astype("int64")
    for codes, values in ((name_codes, names), (kind_codes, kinds), (upstream_codes, upstreams)):
        key = key * (len(values) + 1) + codes
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    labels = [
        _label(
            services[service_codes[i]],
            names[name_codes[i]],
            kinds[kind_codes[i]],
            upstreams[upstream_codes[i]] if upstream_codes[i] < len(upstreams) else None,
        )
        for i in first
    ]
    categories = sorted(set(labels))
    position = {label: n for n, label in enumerate(categories)}
    codes = np.array([position[label] for label in labels], dtype="int64")[inverse.ravel()]
    return pd.Series(pd.Categorical.from_codes(codes, categories), index=spans.index)


def _encode(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes and the distinct values of a text column (missing -> '')."""
    array = pa.chunked_array(pa.array(column, type=pa.string(), from_pandas=True))
    encoded = pc.dictionary_encode(pc.fill_null(array, "")).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary.to_pylist()


def _kind_name(kind: str) -> str:
    text = kind.upper().removeprefix("SPAN_KIND_")
    return _KINDS.get(text, text)


def _label(service: str, name: str, kind: str, upstream: str | None) -> str:
    if name == f"{service or '?'} handle":
        return name
    if kind == "SERVER":
        return f"{service or '?'} sidecar inbound"
    if kind == "CLIENT":
        return f"{service or '?'} sidecar outbound -> {upstream or '?'}"
    return "other"


def _upstream(attributes: pd.Series, client: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Codes into the upstream services named by CLIENT spans' attributes; others past the end."""
    out = np.zeros(len(attributes), dtype="int64")
    if not client.any():
        return out, []
    array = pa.chunked_array(pa.array(attributes, type=pa.string(), from_pandas=True))
    chosen = pc.filter(array.combine_chunks(), pa.array(client))
    found = pc.struct_field(pc.extract_regex(chosen, _UPSTREAM_RE), [0])
    codes, raw = _encode(pd.Series(found.to_pandas().to_numpy(), dtype="object"))
    # Envoy cluster names: 'outbound|80||catalog.default.svc.cluster.local' -> 'catalog'.
    upstreams = [value.split("|")[-1].split(".")[0] for value in raw]
    out[:] = len(upstreams)
    out[client] = codes
    return out, upstreams


def trace_completeness(
    spans: pd.DataFrame,
    requests: pd.DataFrame,
    call_graph: Mapping[str, Sequence[str]],
    ingress: str,
    mode: Mode,
    examples: int = 20,
    entries: Mapping[str, str] | None = None,
) -> TraceReport:
    """Judge every 2xx harness request's trace against the call graph's expected spans;
    `entries` (route name -> service) names the routes that enter at that service."""
    entries = dict(entries or {})
    expected = expected_spans(call_graph, ingress, mode)
    spans = spans.reindex(columns=SPAN_COLUMNS) if spans.empty else spans
    harness_ids = set(requests["trace_id"].dropna().astype(str))
    judged = _with_entry(_judged(requests), entries)
    judged = judged.assign(trace_id=judged["trace_id"].astype(str)).drop_duplicates("trace_id")
    judged_ids = pd.Index(judged["trace_id"], name="trace_id")
    wants = {e: expected_spans(call_graph, ingress, mode, e or None) for e in set(judged["entry"])}
    spans = spans.assign(trace_id=spans["trace_id"].astype(str), label=span_labels(spans))
    in_run = spans["trace_id"].isin(harness_ids)
    labels = set(expected).union(*wants.values())
    counts = _label_counts(spans[in_run], judged_ids, labels)
    deficit = _deficits(counts, judged, wants, expected)
    complete = (deficit.sum(axis=1) == 0) if len(deficit.columns) else pd.Series(True, judged_ids)
    per_trace = pd.DataFrame({"trace_id": judged_ids, "complete": complete.to_numpy(bool)})
    orphans = spans[~in_run]
    by_route = {
        route: dict(expected_spans(call_graph, ingress, mode, service))
        for route, service in entries.items()
    }
    return TraceReport(
        requests=len(judged_ids),
        complete=int(per_trace["complete"].sum()),
        broken_parent_spans=_broken_parents(
            spans[in_run], _entry_labels(requests, entries, ingress, mode)
        ),
        orphan_spans=len(orphans),
        orphan_traces=int(orphans["trace_id"].nunique()),
        expected=dict(expected),
        per_trace=per_trace,
        examples=_examples(deficit, counts, examples),
        expected_by_route=by_route,
    )


def _with_entry(requests: pd.DataFrame, entries: Mapping[str, str]) -> pd.DataFrame:
    """`requests` with `entry`: the service its route enters at ('': the ingress)."""
    if not entries or "route" not in requests.columns:
        return requests.assign(entry="")
    return requests.assign(entry=requests["route"].map(dict(entries)).fillna("").astype(str))


def _deficits(
    counts: pd.DataFrame,
    judged: pd.DataFrame,
    wants: Mapping[str, Counter[str]],
    expected: Counter[str],
) -> pd.DataFrame:
    """Per judged trace, how many of each expected span its entry's multiset lacks."""
    if not wants:
        return _deficit(counts, expected)
    parts = [
        _deficit(counts.loc[pd.Index(group["trace_id"], name="trace_id")], wants[str(entry)])
        for entry, group in judged.groupby("entry", sort=False)
    ]
    deficit = pd.concat(parts).fillna(0).astype("int64")
    return deficit.reindex(index=counts.index, columns=sorted(deficit.columns))


def _entry_labels(
    requests: pd.DataFrame, entries: Mapping[str, str], ingress: str, mode: Mode
) -> pd.Series:
    """trace id -> the label of its request's first span (see `entry_label`)."""
    traced = _with_entry(requests[requests["trace_id"].notna()], entries)
    labels = {e: entry_label(ingress, mode, e or None) for e in set(traced["entry"])}
    return pd.Series(
        traced["entry"].map(labels).to_numpy(), index=traced["trace_id"].astype(str).to_numpy()
    )


def _label_counts(spans: pd.DataFrame, ids: pd.Index, expected: Collection[str]) -> pd.DataFrame:
    counts = spans.groupby(["trace_id", "label"]).size().unstack(fill_value=0)
    counts = counts.reindex(index=ids, fill_value=0)
    return counts.reindex(columns=sorted(set(counts.columns) | set(expected)), fill_value=0)


def _deficit(counts: pd.DataFrame, expected: Counter[str]) -> pd.DataFrame:
    want = pd.Series({label: expected[label] for label in sorted(expected)}, dtype="int64")
    have = counts[want.index] if len(want) else counts.iloc[:, :0]
    return (want - have).clip(lower=0)


def _broken_parents(spans: pd.DataFrame, entries: pd.Series) -> int:
    """Spans whose parent is not in their trace, but for each trace's entry span
    (`entries`: trace id -> its label)."""
    parent = spans["parent_span_id"].astype("string").fillna("")
    has_parent = parent != ""
    own = pd.MultiIndex.from_arrays([spans["trace_id"], spans["span_id"].astype(str)])
    wanted = pd.MultiIndex.from_arrays([spans["trace_id"], parent.astype(str)])
    missing = has_parent.to_numpy() & ~wanted.isin(own)
    entries = entries[~entries.index.duplicated()]
    entry = spans["trace_id"].map(entries).astype(object).to_numpy()
    is_entry = np.asarray(spans["label"].astype(object).to_numpy() == entry, dtype=bool)
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


def _judged(requests: pd.DataFrame) -> pd.DataFrame:
    """The requests whose traces are judged: 2xx with a trace id (a raw TCP route's
    request carries no trace context, so its record has none)."""
    ok = (requests["status"] >= 200) & (requests["status"] < 300)
    traced = requests["trace_id"].fillna("").astype(str) != ""
    return requests[ok & traced]


def completeness_of(report: TraceReport | None, requests: pd.DataFrame) -> float | None:
    """Trace completeness over a subset of requests (e.g. one phase's), 2xx only."""
    if report is None:
        return None
    judged = _judged(requests)
    ids = judged["trace_id"].dropna().astype(str)
    flags = report.per_trace.set_index("trace_id")["complete"]
    return share(ids.map(flags).fillna(False).astype(bool))
