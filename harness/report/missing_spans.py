"""Where a span the trace lacks would have been: under the span that should be its parent.

Pure. The call graph's labels (`harness.analysis.traces.expected_spans`) name each span's
parent: `S sidecar outbound -> C` sits under `S handle`; `C sidecar inbound` under an
`S sidecar outbound -> C`; `S handle` under `S sidecar inbound` (mesh) or, without
sidecars, under the handle of a service that calls S (`calls`, the call graph: the labels
alone do not say who calls whom); the ingress's entry span has no parent in the trace.

A missing span goes under a span of its parent's label (present, or itself missing and
placed first) with the fewest children of its label, the latest to start on a tie (a
retried call's last try is the one the answer came from); among that parent's children it
goes where its label comes in `expected`'s order (the call graph's order, `expected_spans`
lists the callees in the order a service calls them), after the children of its label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

OUTBOUND = " sidecar outbound -> "
INBOUND = " sidecar inbound"
HANDLE = " handle"

Children = dict[int | None, list[int]]
"""Parent node (None: the trace's roots) -> its child nodes in the order they are drawn."""


def parent_labels(
    label: str, expected: Mapping[str, int], calls: Mapping[str, Sequence[str]]
) -> list[str]:
    """The labels a span labelled `label` may have as its parent's (none: a root)."""
    if OUTBOUND in label:
        return [label.split(OUTBOUND, 1)[0] + HANDLE]
    if label.endswith(INBOUND):
        service = label.removesuffix(INBOUND)
        return [e for e in expected if OUTBOUND in e and e.split(OUTBOUND, 1)[1] == service]
    if label.endswith(HANDLE):
        service = label.removesuffix(HANDLE)
        if service + INBOUND in expected:
            return [service + INBOUND]
        return [caller + HANDLE for caller, callees in calls.items() if service in callees]
    return []


def place_missing(
    children: Children,
    labels: list[str],
    starts: list[int],
    lacking: Mapping[str, int],
    expected: Mapping[str, int],
    calls: Mapping[str, Sequence[str]],
) -> list[str]:
    """Add one node per lacking span to `children`, parents first; `labels` and `starts`
    are the present spans' (node i). Returns the missing nodes' labels: node
    `len(labels) + k` is the k-th of them."""
    rank = {label: n for n, label in enumerate(expected)}
    nodes = list(labels)
    added: list[str] = []
    for label in sorted(lacking, key=lambda x: (_level(x, expected, calls), rank[x])):
        parents = parent_labels(label, expected, calls)
        for _ in range(lacking[label]):
            candidates = [n for n, own in enumerate(nodes) if own in parents]
            crowding = [(_crowding(n, label, children, nodes, starts), n) for n in candidates]
            parent = min(crowding)[1] if crowding else None
            node = len(nodes)
            nodes.append(label)
            added.append(label)
            siblings = children.setdefault(parent, [])
            after = rank.get(label, len(rank))
            later = (i for i, s in enumerate(siblings) if rank.get(nodes[s], len(rank)) > after)
            siblings.insert(next(later, len(siblings)), node)
    return added


def _crowding(
    node: int, label: str, children: Children, nodes: list[str], starts: list[int]
) -> tuple[int, int, int]:
    """Fewest children labelled `label` first, then a present span, then the latest start."""
    crowd = sum(nodes[c] == label for c in children.get(node, []))
    present = node < len(starts)
    return crowd, 0 if present else 1, -starts[node] if present else 0


def _level(
    label: str,
    expected: Mapping[str, int],
    calls: Mapping[str, Sequence[str]],
    seen: frozenset[str] = frozenset(),
) -> int:
    """The longest chain of parent labels from `label` to a root (a cycle stops it), so
    that every label its span may hang under is placed before it."""
    seen = seen | {label}
    parents = [p for p in parent_labels(label, expected, calls) if p not in seen]
    return 1 + max((_level(p, expected, calls, seen) for p in parents), default=-1)
