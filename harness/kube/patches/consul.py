"""Consul faults: a merge patch of a config entry's spec (ServiceRouter, ServiceResolver,
ServiceDefaults: consul.hashicorp.com/v1alpha1, as Consul on Kubernetes installs them). Pure.

The patch uses Consul's CRD field names, e.g. a ServiceResolver's `requestTimeout` /
`connectTimeout`, a ServiceRouter's `routes[].destination.numRetries` /
`retryOnStatusCodes` / `requestTimeout`, a ServiceDefaults' `upstreamConfig`. The API
server checks it against the CRD's schema (a 422 names the field).
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from harness.kube.state import KubeModel


class ConsulPolicyParams(KubeModel):
    """consul_policy: a JSON merge patch of the config entry's `spec`."""

    patch: dict[str, Any]

    @field_validator("patch")
    @classmethod
    def _not_empty(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("expected a merge patch of the config entry's spec")
        return value


def config_entry_patch(params: ConsulPolicyParams) -> dict[str, Any]:
    return {"spec": dict(params.patch)}
