"""Authorization on the inbound listener: Istio's AuthorizationPolicy semantics, pure.

`authorize(policies, principal, method, path)` decides one request:

1. a matching rule of any DENY policy denies;
2. with no ALLOW policy, the request is allowed;
3. a matching rule of any ALLOW policy allows;
4. anything else is denied.

`principal` is the peer's SPIFFE ID from its verified mTLS certificate, or "" for a
plain-text peer: then only rules that name no principals can match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mesh_runtime.sidecar.meshconfig import AuthorizationPolicy, Operation, Rule, Source

DENIED_BODY = "RBAC: access denied"
SPIFFE = "spiffe://"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    policy: str | None = None
    """The policy that decided (None: allowed without policies, or no ALLOW matched)."""
    reason: str = ""


def authorize(
    policies: Sequence[AuthorizationPolicy], principal: str, method: str, path: str
) -> Decision:
    """Whether a request from `principal` may do `method path` (path without the query)."""
    if not policies:
        return Decision(True, None, "no policy")
    name = principal.removeprefix(SPIFFE)
    for policy in policies:
        if policy.action == "DENY" and _any_rule(policy.rules, name, method, path):
            return Decision(False, policy.name, "denied by policy")
    allow = [p for p in policies if p.action == "ALLOW"]
    if not allow:
        return Decision(True, None, "no ALLOW policy")
    for policy in allow:
        if _any_rule(policy.rules, name, method, path):
            return Decision(True, policy.name, "allowed by policy")
    return Decision(False, None, "no ALLOW policy matched")


def match_pattern(pattern: str, value: str) -> bool:
    """Istio's string match: exact, 'prefix*', '*suffix', or '*' (any non-empty value)."""
    if pattern == "*":
        return bool(value)
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def _any_rule(rules: Sequence[Rule], principal: str, method: str, path: str) -> bool:
    return any(_rule_matches(rule, principal, method, path) for rule in rules)


def _rule_matches(rule: Rule, principal: str, method: str, path: str) -> bool:
    if rule.from_ and not any(_source_matches(f.source, principal) for f in rule.from_):
        return False
    return not rule.to or any(_operation_matches(t.operation, method, path) for t in rule.to)


def _source_matches(source: Source, principal: str) -> bool:
    if not (source.principals or source.notPrincipals):
        return True
    if not principal:
        return False  # a principal condition needs an authenticated (mTLS) peer
    if source.principals and not _any_principal(source.principals, principal):
        return False
    return not _any_principal(source.notPrincipals, principal)


def _any_principal(patterns: Sequence[str], principal: str) -> bool:
    return any(match_pattern(p.removeprefix(SPIFFE), principal) for p in patterns)


def _operation_matches(op: Operation, method: str, path: str) -> bool:
    if op.methods and not any(m in ("*", method) for m in op.methods):
        return False
    if any(m in ("*", method) for m in op.notMethods):
        return False
    if op.paths and not any(match_pattern(p, path) for p in op.paths):
        return False
    return not any(match_pattern(p, path) for p in op.notPaths)
