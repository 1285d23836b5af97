"""Does the target export a counter family at all? The question asked before a counter with
no rows is read as 0 (`PrometheusObserver.unseen`, `meshproof target check`).

    known = family_known("envoy_cluster_upstream_rq_retry", 'namespace="shop"', 60,
                         has_series=..., has_metadata=...)

Asked in this order, lazily (the I/O is the caller's: `has_series(query)`,
`has_metadata(family, targeted)`):
1. a series of the family within the target's matchers (over the last `window_s` seconds,
   or now): known;
2. with matchers, metadata of the family from the targets they match
   (`/api/v1/targets/metadata?match_target=`): known. A family exposed with `# TYPE` and
   never incremented has no series, only metadata: that one is 0;
3. with matchers, a series of the family outside them (Istio's
   `envoy_cluster_upstream_rq_retry` exported by the gateways in istio-system, not by
   the target's sidecars): not the target's, unknown;
4. metadata of the family from any target (`/api/v1/metadata`; the matchers may be
   series labels, which no target carries): known.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.observe.promql import add_matchers


def series_count_query(family: str, selector: str, window_s: int | None = None) -> str:
    """PromQL counting the series of `family` within `selector` (a target's matchers, no
    braces; '' for none): those seen over the last `window_s` seconds, or those now."""
    inner = f"last_over_time({family}[{window_s}s])" if window_s else family
    return f"count({add_matchers(inner, selector, re.escape(family))})"


def family_known(
    family: str,
    selector: str,
    window_s: int | None,
    *,
    has_series: Callable[[str], bool],
    has_metadata: Callable[[str, bool], bool],
) -> bool:
    """Whether the target exports `family` (see the module's doc); `has_metadata(family,
    targeted)` asks the targets the matchers match when `targeted`, else every target."""
    if has_series(series_count_query(family, selector, window_s)):
        return True
    if selector:
        if has_metadata(family, True):
            return True
        if has_series(series_count_query(family, "", window_s)):
            return False
    return has_metadata(family, False)
