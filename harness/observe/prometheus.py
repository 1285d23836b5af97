"""Range queries over a run against the deployment's Prometheus (step 1 s).

The queries come from the target's metric dialect (`harness.observe.dialects`): for the
reference mesh (`meshproof`), the ones an SRE would type against Istio (request rates by
edge and code, latency quantiles from the duration histogram, the mesh's own counters)
plus every signal's query. Raw counters are fetched too (the analysis computes increases
per phase from them, as PromQL's increase() does). Every result becomes long-form rows
(see rows.py), named by the query's text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from harness.errors import RunError
from harness.observe.dialects import MESHPROOF, BoundDialect, Signal
from harness.observe.families import family_known
from harness.observe.promql import add_matchers
from harness.observe.rows import finite, frame, make_row
from mesh_runtime.target import PrometheusAccess

DEFAULT_QUERIES: tuple[str, ...] = MESHPROOF.bind().queries()
"""Each query's rows are named by the query text in the `metric` column."""

MAX_POINTS = 10_000
"""Prometheus refuses ranges of more than 11,000 points per series; longer runs are split."""


def result_rows(metric: str, result: Sequence[dict[str, Any]], t0: float) -> list[dict[str, Any]]:
    """Rows from a query_range result (`[{"metric": labels, "values": [[ts, "v"], ...]}]`)."""
    rows = []
    for series in result:
        labels = series.get("metric", {})
        for timestamp, text in series.get("values", []):
            value = float(text)
            if finite(value):
                rows.append(make_row(float(timestamp) - t0, metric, labels, value))
    return rows


def chunks(start: float, end: float, step: float) -> list[tuple[float, float]]:
    """[start, end] cut into ranges of at most MAX_POINTS steps."""
    width = MAX_POINTS * step
    out = []
    at = start
    while at <= end:
        out.append((at, min(end, at + width - step)))
        at += width
    return out


class PrometheusObserver:
    """Queries one Prometheus server; every failure is a RunError naming the query.

    `access` (an external target's): the bearer token, CA or skip-verify, and extra label
    matchers ANDed into every query's selectors as it is sent; the rows keep the query's
    own text as their `metric`, so the analysis finds them under the same names."""

    def __init__(
        self,
        url: str,
        *,
        queries: Sequence[str] = DEFAULT_QUERIES,
        timeout: float = 10.0,
        access: PrometheusAccess | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        selector = access.selector() if access is not None else ""
        self._matchers = dict(access.matchers) if access is not None else {}
        self._queries = tuple(queries)
        self._selector = selector
        self._timeout = timeout
        session = requests.Session()
        session.verify = access.verify() if access is not None else True
        # No retries with back-off: a server that does not answer is an error now.
        self._client = PrometheusConnect(
            url=self.url,
            headers=access.headers() if access is not None else None,
            retry=Retry(total=0),
            timeout=int(timeout),
            session=session,
        )

    @classmethod
    def of(cls, access: PrometheusAccess, **kwargs: Any) -> PrometheusObserver:
        """An observer of the Prometheus `access` describes (URL, auth, TLS, matchers)."""
        return cls(access.url, access=access, **kwargs)

    def query_range(
        self, query: str, start: float, end: float, t0: float, step: float = 1.0
    ) -> list[dict[str, Any]]:
        """Rows of one query over [start, end] (wall clock seconds), `t_s` from `t0`; sent
        with the target's matchers, named by `query` as given."""
        sent = add_matchers(query, self._selector)
        rows: list[dict[str, Any]] = []
        for lo, hi in chunks(start, end, step):
            try:
                result = self._client.custom_query_range(
                    sent,
                    start_time=datetime.fromtimestamp(lo, UTC),
                    end_time=datetime.fromtimestamp(hi, UTC),
                    step=f"{step:g}s",
                )
            except (PrometheusApiClientException, requests.RequestException, ValueError) as exc:
                raise RunError(f"prometheus {self.url}: query {sent!r} failed: {exc}") from exc
            rows.extend(result_rows(query, result, t0))
        return rows

    def collect(self, start: float, end: float, t0: float, step: float = 1.0) -> pd.DataFrame:
        """The metrics table of the run: every query over [start, end]."""
        rows: list[dict[str, Any]] = []
        for query in self._queries:
            rows.extend(self.query_range(query, start, end, t0, step))
        return frame(rows)

    def unseen(
        self, dialect: BoundDialect, table: pd.DataFrame, start: float, end: float
    ) -> list[Signal]:
        """The counted signals with no rows in `table` whose family the target did not
        export over [start, end] (`family_seen`): no data, not 0."""
        queried = set(table["metric"].unique()) if len(table) else set()
        silent = dialect.silent_counters(queried)
        return [s for s, family in silent.items() if not self.family_seen(family, start, end)]

    def family_seen(self, family: str, start: float, end: float) -> bool:
        """Whether the target exported `family` in [start, end]: a series of it, or its
        metadata, within the target's matchers (`harness.observe.families`)."""
        window = max(1, math.ceil(end - start))

        def has_series(query: str) -> bool:
            return bool(self._client.custom_query(query, params={"time": f"{end:.3f}"}))

        def has_metadata(name: str, targeted: bool) -> bool:
            if targeted:
                return bool(self._client.get_target_metadata(self._matchers, metric=name))
            return bool(self._client.get_metric_metadata(name))

        try:
            return family_known(
                family, self._selector, window, has_series=has_series, has_metadata=has_metadata
            )
        except (PrometheusApiClientException, requests.RequestException, ValueError) as exc:
            raise RunError(f"prometheus {self.url}: asking for {family} failed: {exc}") from exc
