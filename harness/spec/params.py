"""What each fault kind's `params` may hold, checked by the models the injectors' input is.

- a toxic's `attributes`, per Toxiproxy type (`TOXIC_ATTRIBUTES`, names and units as
  Toxiproxy's own);
- a `policy` fault's (or rollback's) JSON merge patch: merged into the default
  `ServicePolicy` and validated as the control plane validates it on the current one;
- a `service_behaviour` change: merged into the default `Behaviour` of the sample service
  and validated as the service validates a PUT of `/_behaviour`.

A problem inside such a value is a `NestedProblem`, so its field path goes on inside the
value (`faults[0].params.latency.mean: unknown field; ...`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mesh_runtime.config.policy import ServicePolicy
from mesh_runtime.control.store import merge_patch
from mesh_runtime.services.behaviour import Behaviour
from mesh_runtime.validation import NestedProblem


class _Attributes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyAttributes(_Attributes):
    latency: int = Field(0, ge=0)
    """Added delay, ms."""
    jitter: int = Field(0, ge=0)
    """Up to this much more or less, ms."""


class BandwidthAttributes(_Attributes):
    rate: int = Field(0, ge=0)
    """KB/s."""


class SlowCloseAttributes(_Attributes):
    delay: int = Field(0, ge=0)
    """Delay before the connection is closed, ms."""


class TimeoutAttributes(_Attributes):
    timeout: int = Field(0, ge=0)
    """ms until the connection is closed (timeout) or reset (reset_peer); 0 never (timeout)
    or at once (reset_peer)."""


class SlicerAttributes(_Attributes):
    average_size: int = Field(0, ge=0)
    size_variation: int = Field(0, ge=0)
    delay: int = Field(0, ge=0)
    """Between slices, microseconds."""


class LimitDataAttributes(_Attributes):
    bytes: int = Field(0, ge=0)
    """Bytes let through before the connection is closed."""


TOXIC_ATTRIBUTES: dict[str, type[_Attributes]] = {
    "latency": LatencyAttributes,
    "bandwidth": BandwidthAttributes,
    "slow_close": SlowCloseAttributes,
    "timeout": TimeoutAttributes,
    "reset_peer": TimeoutAttributes,
    "slicer": SlicerAttributes,
    "limit_data": LimitDataAttributes,
}
"""Toxiproxy's attributes of each toxic type, with its names and units."""


def policy_patch(patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of a ServicePolicy, checked on the default policy as the control
    plane checks it on the current one; NestedProblem names the field."""
    if not patch:
        raise ValueError("expected a merge patch of the service's policy, like {http: [...]}")
    merged = merge_patch(ServicePolicy().model_dump(mode="json"), patch)
    try:
        ServicePolicy.model_validate(merged)
    except ValidationError as exc:
        raise NestedProblem.of(exc, merged, ServicePolicy) from None
    return patch


def behaviour_change(change: dict[str, Any]) -> dict[str, Any]:
    """A partial Behaviour of the sample service, checked as the service checks a PUT of
    `/_behaviour` (its fields merged into the current behaviour), with the values typed as
    the service takes them. The service's model is strict (JSON types as they are); a YAML
    file is read laxly here, since YAML 1.1 reads `1e-1` or a quoted `"0.5"` as text, and
    what is sent is the typed value (0.1, 0.5), never the text."""
    if not change:
        raise ValueError("expected at least one field of the behaviour, like {error_rate: 0.5}")
    merged = _deep_merge(Behaviour().model_dump(), change)
    try:
        typed = Behaviour.model_validate(merged, strict=False).model_dump()
    except ValidationError as exc:
        raise NestedProblem.of(exc, merged, Behaviour) from None
    return _fields_of(typed, change)


def _fields_of(typed: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """The fields `change` names (nested ones too), with their values from `typed`."""
    return {
        key: _fields_of(typed[key], value) if isinstance(value, dict) else typed[key]
        for key, value in change.items()
    }


def _deep_merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in change.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _deep_merge(out[key], value) if both else value
    return out
