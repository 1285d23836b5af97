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

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mesh_runtime.policy_rules import (
    MtlsMode,
    check_methods,
    check_pattern,
    check_patterns,
    spiffe_id,
)

__all__ = ["MtlsMode", "check_pattern", "spiffe_id"]


class SecurityModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )


class Source(SecurityModel):
    principals: list[str] = []
    notPrincipals: list[str] = []

    _check = field_validator("principals", "notPrincipals")(check_patterns)


class Operation(SecurityModel):
    methods: list[str] = []
    notMethods: list[str] = []
    paths: list[str] = []
    notPaths: list[str] = []

    _check_paths = field_validator("paths", "notPaths")(check_patterns)

    @field_validator("methods", "notMethods")
    @classmethod
    def _methods(cls, values: list[str]) -> list[str]:
        check_methods(values)
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
