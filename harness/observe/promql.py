"""Extra label matchers put into PromQL text (a target's `prometheus.matchers`). Pure.

`add_matchers('sum(rate(istio_requests_total{reporter="source"}[5s]))', 'namespace="shop"',
METRIC_NAME)` -> `sum(rate(istio_requests_total{namespace="shop",reporter="source"}[5s]))`:
every selector of a metric whose name matches `metric` gets the matchers, whether it had
braces or not. Label lists (`by (...)`, `without (...)`, `on (...)`, `ignoring (...)`,
`group_left (...)`, `group_right (...)`) are left alone, even where a label is named like
a metric (`response_code`), and so are function names and string literals
(`label_replace(..., "mp_flags", "$1", "response_flags", "(.*)")` names labels).
"""

from __future__ import annotations

import re

METRIC_NAME = r"(?:istio|meshproof|envoy|request|response|outbound|container)_[a-zA-Z0-9_:]*"
"""The metric families the harness queries (Istio's, the mesh's own, Envoy's, Linkerd's
request/response and outbound_http_route_*, cAdvisor's)."""
LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def add_matchers(query: str, selector: str, metric: str = METRIC_NAME) -> str:
    """`query` with `selector` (`a="b",c="d"`, no braces) ANDed into each selector of a
    metric named by the regex `metric`; `query` unchanged when `selector` is ''."""
    if not selector:
        return query
    pattern = re.compile(rf"(?<![A-Za-z0-9_:])({metric})(\{{[^}}]*\}})?(?![A-Za-z0-9_:(])")
    lists = [m.span() for m in LABEL_LIST.finditer(query)]
    lists += [m.span() for m in STRING.finditer(query)]

    def put(match: re.Match[str]) -> str:
        if any(start <= match.start() < end for start, end in lists):
            return match.group(0)
        name, braces = match.group(1), match.group(2)
        inner = braces[1:-1].strip() if braces else ""
        return f"{name}{{{selector}{',' + inner if inner else ''}}}"

    return pattern.sub(put, query)
