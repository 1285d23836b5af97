"""Security policies, shaped as Istio's PeerAuthentication and AuthorizationPolicy.

A destination service's `ServicePolicy` carries `mtls` (the PeerAuthentication mode of
its inbound listeners, overriding the mesh-wide `mesh.mtls`) and `authorization` (a list
of AuthorizationPolicy specs, enforced by the destination's sidecar):

    authorization:
      - name: frontend-only
        action: ALLOW
        rules:
          - from: [{source: {principals: ["meshproof.local/ns/default/sa/frontend"]}}]
            to: [{operation: {methods: ["GET"], paths: ["/products*"]}}]

Principals are SPIFFE IDs with or without the `spiffe://` scheme (Istio writes them
without). Principal and path patterns are exact, a prefix (`/api/*`), a suffix
(`*/sa/frontend`) or `*` alone, as Istio's string match.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MtlsMode = Literal["DISABLE", "PERMISSIVE", "STRICT"]

_METHOD = re.compile(r"^[A-Z]+$")


def spiffe_id(trust_domain: str, service: str) -> str:
    """The SPIFFE ID of a service's workloads (Istio's form, in the default namespace)."""
    return f"spiffe://{trust_domain}/ns/default/sa/{service}"


class SecurityModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )


def check_pattern(value: str) -> str:
    """An Istio string match: exact, 'prefix*', '*suffix' or '*'; no other wildcard."""
    if not value:
        raise ValueError("expected a non-empty pattern")
    inner = value[1:-1] if len(value) > 1 else ""
    if "*" in inner or (value.startswith("*") and value.endswith("*") and value != "*"):
        raise ValueError(f"'*' may only start or end a pattern, got {value!r}")
    return value


def _patterns(values: list[str]) -> list[str]:
    return [check_pattern(v) for v in values]


class Source(SecurityModel):
    principals: list[str] = []
    notPrincipals: list[str] = []

    _check = field_validator("principals", "notPrincipals")(_patterns)


class Operation(SecurityModel):
    methods: list[str] = []
    notMethods: list[str] = []
    paths: list[str] = []
    notPaths: list[str] = []

    _check_paths = field_validator("paths", "notPaths")(_patterns)

    @field_validator("methods", "notMethods")
    @classmethod
    def _methods(cls, values: list[str]) -> list[str]:
        for value in values:
            if value != "*" and not _METHOD.match(value):
                raise ValueError(f"expected an upper-case HTTP method like 'GET', got {value!r}")
        return values


class RuleFrom(SecurityModel):
    source: Source = Source()


class RuleTo(SecurityModel):
    operation: Operation = Operation()


class Rule(SecurityModel):
    """Matches when any `from` entry and any `to` entry match (an empty list matches all)."""

    from_: list[RuleFrom] = Field(default=[], alias="from")
    to: list[RuleTo] = []


class AuthorizationPolicy(SecurityModel):
    """DENY wins over ALLOW; once any ALLOW policy exists, unmatched requests are denied."""

    name: str = "default"
    action: Literal["ALLOW", "DENY"] = "ALLOW"
    rules: list[Rule] = []
    """An ALLOW or DENY policy without rules matches nothing; `rules: [{}]` matches all."""
