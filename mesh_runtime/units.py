"""Value types shared by every file format: durations and percentages."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

from mesh_runtime.quantities import format_duration, parse_duration, parse_percentage

__all__ = ["Duration", "Percentage", "format_duration", "parse_duration", "parse_percentage"]

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A duration in seconds, written in files as '30s' / '250ms'."""


Percentage = Annotated[float, BeforeValidator(parse_percentage)]
"""A share of requests, 0-100, as Istio writes it."""
