"""The inbound authorization decision (Istio AuthorizationPolicy semantics), pure."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_runtime.config import AuthorizationPolicy, ServicePolicy
from mesh_runtime.errors import InvalidInput
from mesh_runtime.sidecar.authz import authorize, match_pattern
from mesh_runtime.validation import model_from_data

FRONTEND = "spiffe://meshproof.local/ns/default/sa/frontend"
CART = "spiffe://meshproof.local/ns/default/sa/cart"


def policy(action: Any = "ALLOW", name: Any = "p", **rule: Any) -> AuthorizationPolicy:
    return AuthorizationPolicy.model_validate({"name": name, "action": action, "rules": [rule]})


def source(*principals: str) -> list[dict[str, Any]]:
    return [{"source": {"principals": list(principals)}}]


def operation(**op: Any) -> list[dict[str, Any]]:
    return [{"operation": op}]


def test_no_policies_allow_everything() -> None:
    """Without any policy every request is allowed, even without a principal."""
    assert authorize([], "", "GET", "/").allowed


def test_allow_rule_admits_its_principal_and_denies_others() -> None:
    """With an ALLOW policy, its principal passes and anyone else is denied."""
    policies = [policy(**{"from": source(FRONTEND)})]
    assert authorize(policies, FRONTEND, "GET", "/x").allowed
    decision = authorize(policies, CART, "GET", "/x")
    assert not decision.allowed
    assert decision.reason == "no ALLOW policy matched"


def test_deny_wins_over_allow() -> None:
    """A request matched by both a DENY and an ALLOW policy is denied, naming the DENY."""
    policies = [
        policy(name="all", **{"from": source("*")}),
        policy("DENY", "no-cart", **{"from": source(CART)}),
    ]
    decision = authorize(policies, CART, "GET", "/")
    assert (decision.allowed, decision.policy) == (False, "no-cart")
    assert authorize(policies, FRONTEND, "GET", "/").allowed


def test_deny_only_policies_allow_the_rest() -> None:
    """With only DENY policies, requests they do not match are allowed."""
    policies = [policy("DENY", to=operation(paths=["/admin*"]))]
    assert not authorize(policies, FRONTEND, "GET", "/admin/users").allowed
    assert authorize(policies, FRONTEND, "GET", "/products").allowed


def test_principals_match_with_or_without_the_spiffe_scheme() -> None:
    """Istio writes principals without 'spiffe://'; both spellings match the same peer."""
    bare = FRONTEND.removeprefix("spiffe://")
    assert authorize([policy(**{"from": source(bare)})], FRONTEND, "GET", "/").allowed
    assert authorize([policy(**{"from": source(FRONTEND)})], FRONTEND, "GET", "/").allowed


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("/api", "/api", True),
        ("/api", "/api/x", False),
        ("/api/*", "/api/x", True),
        ("/api/*", "/apix", False),
        ("*/sa/frontend", "meshproof.local/ns/default/sa/frontend", True),
        ("*/sa/frontend", "meshproof.local/ns/default/sa/cart", False),
        ("*", "anything", True),
        ("*", "", False),
    ],
)
def test_pattern_match(pattern: str, value: str, expected: bool) -> None:
    """Exact, prefix*, *suffix and * patterns match as Istio's string match does."""
    assert match_pattern(pattern, value) is expected


def test_plain_text_peer_matches_only_rules_without_principals() -> None:
    """An empty principal (no mTLS) never satisfies a principal condition, not even '*'."""
    assert not authorize([policy(**{"from": source("*")})], "", "GET", "/").allowed
    open_paths = [policy(to=operation(paths=["/public*"]))]
    assert authorize(open_paths, "", "GET", "/public/a").allowed
    assert not authorize(open_paths, "", "GET", "/private").allowed


def test_methods_and_paths_both_must_match() -> None:
    """An operation needs its method and its path to match."""
    policies = [policy(to=operation(methods=["GET"], paths=["/products*"]))]
    assert authorize(policies, CART, "GET", "/products/1").allowed
    assert not authorize(policies, CART, "POST", "/products/1").allowed
    assert not authorize(policies, CART, "GET", "/cart").allowed


def test_not_fields_exclude() -> None:
    """notPrincipals, notMethods and notPaths exclude what they name."""
    rules = {
        "from": [{"source": {"notPrincipals": [CART]}}],
        "to": operation(notMethods=["DELETE"], notPaths=["/secret"]),
    }
    policies = [policy(**rules)]
    assert authorize(policies, FRONTEND, "GET", "/x").allowed
    assert not authorize(policies, CART, "GET", "/x").allowed
    assert not authorize(policies, FRONTEND, "DELETE", "/x").allowed
    assert not authorize(policies, FRONTEND, "GET", "/secret").allowed


def test_allow_policy_without_rules_denies_all_and_empty_rule_allows_all() -> None:
    """Istio: an ALLOW policy with no rules matches nothing; `rules: [{}]` matches all."""
    nothing = AuthorizationPolicy.model_validate({"action": "ALLOW"})
    assert not authorize([nothing], FRONTEND, "GET", "/").allowed
    assert authorize([policy()], "", "GET", "/").allowed


def test_policy_round_trips_with_istio_field_names() -> None:
    """The model reads and writes Istio's `from` key (not a Python-mangled name)."""
    data = {
        "authorization": [
            {"name": "a", "action": "DENY", "rules": [{"from": source(CART), "to": []}]}
        ]
    }
    parsed = ServicePolicy.model_validate(data)
    dumped = parsed.model_dump(mode="json")
    assert dumped["authorization"][0]["rules"][0]["from"][0]["source"]["principals"] == [CART]
    assert ServicePolicy.model_validate(dumped) == parsed


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"action": "AUDIT"}, "authorization[0].action"),
        ({"rules": [{"to": operation(paths=["/a*b"])}]}, "paths"),
        ({"rules": [{"to": operation(methods=["get"])}]}, "methods"),
        ({"rules": [{"from": source("")}]}, "principals"),
    ],
)
def test_bad_policy_is_one_clear_error(data: dict[str, Any], problem: str) -> None:
    """A bad policy is an InvalidInput naming the field, not a traceback."""
    with pytest.raises(InvalidInput) as info:
        model_from_data({"authorization": [data]}, ServicePolicy, "policy")
    assert problem in str(info.value)
