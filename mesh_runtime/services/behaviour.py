"""What a sample service instance is told to do: latency, errors, hangs, body size, tracing.

Pure: the model, partial updates, latency sampling and the failure decision all take
their randomness from a `random.Random` passed in, so tests seed it.
"""

from __future__ import annotations

import json
import json.encoder
import math
import random
from collections.abc import Callable, Mapping, Sequence
from itertools import cycle
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_PADDING_OVERHEAD = len(',"padding":""')


def _compact_encoder() -> Callable[[Any], str]:
    """json.dumps(payload, separators=(",", ":")), its C encoder made once: json.dumps makes
    an encoder whenever an option differs from its defaults (~3 us of a hop), and even a
    kept JSONEncoder's `encode` makes a C encoder per call through two Python frames
    (~2 us of a caller's answer). No check for circular references: an answer is a tree of
    what this service built and what JSON parsing gave it."""
    encoder = json.JSONEncoder(separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the Python encoder, made once
        return encoder.encode
    # JSONEncoder.iterencode's own call (markers None: no circular check; indent None, the
    # separators, sort_keys, skipkeys, allow_nan as the encoder has them).
    ascii_strings = json.encoder.encode_basestring_ascii
    chunks = make(None, encoder.default, ascii_strings, None, ":", ",", False, False, True)
    return lambda payload: "".join(chunks(payload, 0))


_COMPACT = _compact_encoder()
compact_json = _COMPACT
"""Any JSON value as the answers' compact text (what `padded_body` writes)."""


class BehaviourError(ValueError):
    """A behaviour update that does not validate; `str(exc)` is '<field path>: <problem>'."""


class _Model(BaseModel):
    # strict: a PUT's JSON types are taken as they are ("yes" is no boolean, "0.5" and true
    # no number; an integer is a number), and the experiments' params are checked the same
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Latency(_Model):
    distribution: Literal["fixed", "normal", "exponential", "lognormal"] = "fixed"
    mean_ms: float = Field(0.0, ge=0, le=600_000, allow_inf_nan=False)
    stddev_ms: float = Field(0.0, ge=0, le=600_000, allow_inf_nan=False)
    """Used by normal and lognormal (the spread of the delay itself, not of its log)."""


class Behaviour(_Model):
    latency: Latency = Latency()
    error_rate: float = Field(0.0, ge=0, le=1, allow_inf_nan=False)
    """Share of requests answered `error_status` at once, before any downstream call."""
    error_status: int = Field(503, ge=400, le=599)
    grpc_status: int = Field(14, ge=1, le=16)
    """The gRPC status a `protocol: grpc` instance answers those requests with (UNAVAILABLE)."""
    hang: bool = False
    """Hold every request unanswered until hang is switched off or the client gives up."""
    response_bytes: int = Field(0, ge=0, le=MAX_RESPONSE_BYTES)
    """Pad the JSON body to this many bytes (0: no padding)."""
    propagate_trace: bool = True
    """False drops the trace context: downstream calls carry no traceparent."""


def updated(current: Behaviour, change: Any) -> Behaviour:
    """`current` with the fields of the partial JSON object `change` replaced."""
    if not isinstance(change, Mapping):
        raise BehaviourError("body: expected a JSON object")
    merged = _deep_merge(current.model_dump(), change)
    try:
        return Behaviour.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        path = ".".join(str(part) for part in error["loc"]) or "body"
        raise BehaviourError(
            f"{path}: {_problem(error['type'], error['msg'], error['input'])}"
        ) from None


_EXPECTED = {
    "bool_type": "expected true or false",
    "float_type": "expected a number",
    "int_type": "expected an integer",
    "model_type": "expected a JSON object",
    "finite_number": "expected a finite number",
}


def _problem(kind: str, message: str, value: Any) -> str:
    """What is wrong with one field's value, in JSON's words where its type is wrong."""
    if kind == "extra_forbidden":
        return "unknown field"
    expected = _EXPECTED.get(kind)
    return message if expected is None else f"{expected}, not {_as_json(value)}"


def _as_json(value: Any) -> str:
    """A value as the JSON that gave it, shortened to one short line."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = json.dumps(value[:40] if isinstance(value, str) else value)
    short = text if len(text) <= 42 else text[:40] + "..."
    return f"the string {short}" if isinstance(value, str) else short


def _deep_merge(base: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in change.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def sample_latency_ms(latency: Latency, rng: random.Random) -> float:
    """One delay, in milliseconds, drawn from the configured distribution (never negative)."""
    mean, stddev = latency.mean_ms, latency.stddev_ms
    if mean <= 0:
        return 0.0
    if latency.distribution == "normal":
        return max(0.0, rng.gauss(mean, stddev))
    if latency.distribution == "exponential":
        return rng.expovariate(1.0 / mean)
    if latency.distribution == "lognormal" and stddev > 0:
        # parameters of the underlying normal that give this mean and standard deviation
        sigma2 = _log1p_ratio_squared(stddev, mean)
        return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))
    return mean


def _log1p_ratio_squared(top: float, bottom: float) -> float:
    """log(1 + (top / bottom)**2) for positive floats, in logs once the ratio is over 1:
    its square overflows a float when `bottom` is tiny beside `top` (a mean of 1e-200 ms)."""
    if top <= bottom:
        return math.log1p((top / bottom) ** 2)
    return 2 * (math.log(top) - math.log(bottom)) + math.log1p((bottom / top) ** 2)


def should_fail(behaviour: Behaviour, rng: random.Random) -> bool:
    """Whether this request is answered with the injected error status."""
    return behaviour.error_rate > 0 and rng.random() < behaviour.error_rate


def padded_body(payload: Mapping[str, Any], size: int) -> bytes:
    """`payload` as compact JSON, padded with a "padding" field to exactly `size` bytes
    when it is shorter than that (a larger payload is returned as it is)."""
    body = _COMPACT(payload)
    if not payload:
        return body.encode()
    return padded_text(body, size)


def padded_text(body: str, size: int) -> bytes:
    """A JSON object's compact text padded as `padded_body` pads it."""
    missing = size - len(body) - _PADDING_OVERHEAD
    if missing < 0:
        return body.encode()
    return (body[:-1] + ',"padding":"' + "x" * missing + '"}').encode()


class RoundRobin:
    """Cycles through a fixed list of addresses."""

    def __init__(self, addresses: Sequence[str]) -> None:
        if not addresses:
            raise ValueError("round robin over no addresses")
        self.addresses = tuple(addresses)
        self._next = cycle(self.addresses)

    def pick(self) -> str:
        return next(self._next)
