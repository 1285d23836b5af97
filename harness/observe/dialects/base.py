"""What a metric dialect is: the harness's signals, each a PromQL query or NoData.

A dialect is a pure mapping from the harness's signals (`SIGNALS`) to PromQL for one
mesh's metric names and labels. Every query has exactly one series selector. A target's
extra label matchers (a namespace, a cluster) are added as the queries are sent
(`harness.observe.promql.add_matchers`); the rows keep the query's own text.

The queries put the harness's own labels on the series they return, so one piece of
analysis reads every dialect (`label_replace`, no aggregation of counters: each raw
series keeps its own labels, so a counter reset in one sidecar is handled per series):

- `mp_service`: the workload that received the requests (service signals);
- `mp_source`, `mp_destination`: the calling and the called workload (edge signals);
- `mp_flags`: Envoy's response flags (`response_flags`).

Counter signals return raw cumulative counters (the analysis takes the increase per
series, as PromQL's `increase()` does); value signals (quantiles, CPU rate, memory)
return the value itself. A signal a mesh cannot give is `NoData` with the reason,
never a query that would read as 0.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal, get_args

Signal = Literal[
    "service_requests",
    "service_errors",
    "edge_requests",
    "edge_errors",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "retries",
    "overflows",
    "ejections",
    "mtls_requests",
    "response_flags",
    "proxied_requests",
    "sidecar_cpu_cores",
    "sidecar_memory_bytes",
]
SIGNALS: tuple[Signal, ...] = get_args(Signal)
"""Every signal, in the order the observer queries them."""

COUNTER_SIGNALS: frozenset[Signal] = frozenset(
    {
        "service_requests",
        "service_errors",
        "edge_requests",
        "edge_errors",
        "retries",
        "overflows",
        "ejections",
        "mtls_requests",
        "response_flags",
        "proxied_requests",
    }
)
"""Signals whose series are raw cumulative counters; the others are values."""

COUNTED: frozenset[Signal] = frozenset({"retries", "ejections", "overflows"})
"""Counter signals an SLO reads as a count (`retries_per_krequests`, `ejections`,
`overflows`): no series of one in the run is 0 only if Prometheus knows its family
(`BoundDialect.unseen`); a family it never had is no data, never 0."""

SERVICE = "mp_service"
SOURCE = "mp_source"
DESTINATION = "mp_destination"
FLAGS = "mp_flags"


@dataclass(frozen=True)
class Selector:
    """One series selector: a metric name and label matchers `(name, op, value)`."""

    metric: str
    labels: tuple[tuple[str, str, str], ...] = ()

    def render(self) -> str:
        pairs = self.labels
        if not pairs:  # a bare name: the row key the harness has always used for it
            return self.metric
        inside = ",".join(f'{name}{op}"{_escape(value)}"' for name, op, value in pairs)
        return f"{self.metric}{{{inside}}}"

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether a sample `name{labels}` is selected (PromQL: regexes match the whole
        value, a missing label is the empty string)."""
        if name != self.metric:
            return False
        for label, op, value in self.labels:
            have = labels.get(label, "")
            exact = op in ("=", "!=")
            hit = have == value if exact else re.fullmatch(value, have) is not None
            if hit == op.startswith("!"):
                return False
        return True


def sel(metric: str, *labels: tuple[str, str, str], **equal: str) -> Selector:
    """`sel("istio_requests_total", ("response_code", "=~", "5.."), reporter="source")`."""
    return Selector(metric, (*((k, "=", v) for k, v in equal.items()), *labels))


@dataclass(frozen=True)
class Query:
    """PromQL with one selector: `template` holds `{selector}` where it goes; `copies`
    the `(mesh label, harness label)` pairs its `label_replace` chain copies."""

    selector: Selector
    template: str = "{selector}"
    copies: tuple[tuple[str, str], ...] = ()

    def promql(self) -> str:
        return self.template.replace("{selector}", self.selector.render())


@dataclass(frozen=True)
class NoData:
    """A signal the mesh's metrics cannot give, and why."""

    reason: str


SignalMap = Mapping[Signal, Query | NoData]


@dataclass(frozen=True)
class Dialect:
    """One mesh's metric names: a Query or NoData for every signal.

    `extra_queries` are stored as they are besides the signals (the `meshproof`
    dialect's are the queries the harness made before dialects existed, which the
    report, the dashboard and the comparison of older runs read by their text).
    """

    name: str
    signals: SignalMap
    reference: str
    """Where the metric names and labels come from (the mesh's published reference)."""
    extra_queries: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        missing = [s for s in SIGNALS if s not in self.signals]
        if missing:
            raise ValueError(f"dialect {self.name}: no entry for {', '.join(missing)}")

    def bind(self) -> BoundDialect:
        """The dialect's PromQL text per signal (the text is also the rows' `metric`)."""
        bound: dict[Signal, str | NoData] = {}
        families: dict[Signal, str] = {}
        for signal in SIGNALS:
            entry = self.signals[signal]
            bound[signal] = entry if isinstance(entry, NoData) else entry.promql()
            if isinstance(entry, Query):
                families[signal] = entry.selector.metric
        return BoundDialect(
            self.name, MappingProxyType(bound), self.extra_queries, MappingProxyType(families)
        )


@dataclass(frozen=True)
class BoundDialect:
    """A dialect's queries as sent: signal -> PromQL text (also the rows' `metric`) or NoData."""

    name: str
    signals: Mapping[Signal, str | NoData]
    extra_queries: tuple[str, ...] = ()
    families: Mapping[Signal, str] = field(default_factory=dict)
    """Signal -> the metric family its query selects (signals with a query)."""
    unseen: frozenset[Signal] = frozenset()
    """Signals whose family the target did not export during the run (`with_unseen`)."""
    unseen_within: str = ""
    """The target's label matchers those families were looked for within ('' for none)."""

    def query(self, signal: Signal) -> str | None:
        """The PromQL whose rows hold `signal`; None when the dialect has no data for it,
        or Prometheus had no series of its family during the run."""
        entry = self.signals[signal]
        return None if isinstance(entry, NoData) or signal in self.unseen else entry

    def no_data(self, signal: Signal) -> str | None:
        """Why there is no data for `signal` (the dialect's reason, naming the mesh, or its
        family unseen); None when there is."""
        entry = self.signals[signal]
        if isinstance(entry, NoData):
            return f"{self.name} metrics: {entry.reason}"
        if signal not in self.unseen:
            return None
        return unseen_reason(self.families[signal], self.unseen_within)

    def silent_counters(self, queried: Collection[str]) -> dict[Signal, str]:
        """The `COUNTED` signals whose query gave no rows (`queried`: the metric keys of the
        rows there are), with the family to ask Prometheus about."""
        return {
            signal: self.families[signal]
            for signal in SIGNALS
            if signal in COUNTED and signal in self.families and self.signals[signal] not in queried
        }

    def with_unseen(self, signals: Iterable[Signal], within: str = "") -> BoundDialect:
        """This dialect, `signals` known to have no family in Prometheus (no series within
        the target's matchers `within`): no data, not 0."""
        return replace(self, unseen=self.unseen | frozenset(signals), unseen_within=within)

    def queries(self) -> tuple[str, ...]:
        """Every query to run: the extra ones, then each signal's (no repeats)."""
        texts = [*self.extra_queries, *(q for q in self.signals.values() if isinstance(q, str))]
        return tuple(dict.fromkeys(texts))


def unseen_reason(family: str, within: str = "") -> str:
    """Why a counter whose family Prometheus never had (within the target's matchers
    `within`) reads as no data, not 0."""
    series = f"{family}{{{within}}}" if within else family
    return (
        f"Prometheus has no series of {series} during the run; the mesh may not export it,"
        " or its scrape job is missing"
    )


def relabel(inner: str, *pairs: tuple[str, str]) -> str:
    """`label_replace` chain copying each `(source_label, harness_label)` pair."""
    out = inner
    for source, target in pairs:
        out = f'label_replace({out}, "{target}", "$1", "{source}", "(.*)")'
    return out


def counter(selector: Selector, *pairs: tuple[str, str]) -> Query:
    """A raw counter, with the harness's labels copied from the mesh's."""
    return Query(selector, relabel("{selector}", *pairs), pairs)


def quantile(q: float, bucket: Selector, source_label: str, window: str = "5s") -> Query:
    """`histogram_quantile` per receiving workload over `rate(<bucket>[window])`."""
    rate = relabel(f"rate({{selector}}[{window}])", (source_label, SERVICE))
    template = f"histogram_quantile({q:g}, sum by (le, {SERVICE}) ({rate}))"
    return Query(bucket, template, ((source_label, SERVICE),))


LATENCIES: tuple[tuple[Signal, float], ...] = (
    ("latency_p50_ms", 0.5),
    ("latency_p90_ms", 0.9),
    ("latency_p99_ms", 0.99),
)


def traffic(
    inbound: tuple[Selector, Selector],
    outbound: tuple[Selector, Selector],
    labels: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]],
    bucket: Selector,
    workload_label: str,
) -> dict[Signal, Query | NoData]:
    """The signals every mesh's metrics give alike: `(requests, errors)` selectors received
    (`inbound`, per service) and sent (`outbound`, per edge), copying the `(service, edge)`
    `labels`, and the latency quantiles of `bucket` per receiving workload."""
    (requests_in, errors_in), (requests_out, errors_out) = inbound, outbound
    service_labels, edge_labels = labels
    signals: dict[Signal, Query | NoData] = {
        "service_requests": counter(requests_in, *service_labels),
        "service_errors": counter(errors_in, *service_labels),
        "edge_requests": counter(requests_out, *edge_labels),
        "edge_errors": counter(errors_out, *edge_labels),
    }
    for signal, q in LATENCIES:
        signals[signal] = quantile(q, bucket, workload_label)
    return signals


def cadvisor_cpu(container: tuple[str, str], window: str = "1m") -> Query:
    """Cores used by the sidecar container `(op, name)`, per pod (cAdvisor via the kubelet;
    its series come every 10-15 s, hence the longer rate window)."""
    selector = sel("container_cpu_usage_seconds_total", ("container", *container))
    return Query(selector, f"rate({{selector}}[{window}])")


def cadvisor_memory(container: tuple[str, str]) -> Query:
    """Working-set bytes of the sidecar container `(op, name)`, per pod (cAdvisor)."""
    return Query(sel("container_memory_working_set_bytes", ("container", *container)))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
