"""A phase of a run's timeline: a kind and, for `during` / `after`, the fault it follows.

The one place a phase is written as text and read back. The text form is what run.json,
the requests and windows tables and an SLO line hold, unchanged since the first records:

- `warmup`          from the start until warm-up ends (never judged);
- `before`          from the end of warm-up until the first fault starts;
- `during:<fault>`  while that fault is on;
- `between`         after one fault ended and before the next began (a request's
                    primary phase only, `harness.analysis.phases`);
- `after`           from the end of the last fault; `after:<fault>` from the end of that
                    fault, both to the end of the run;
- `whole`           everything after warm-up.

`Phase.parse(text)` reads any of them (a bad one: `ValueError` with one line saying what
is expected); `str(phase)` writes it back. An SLO judges `whole`, `before`, `during:<f>`,
`after` or `after:<f>` (`JUDGED`); in a pydantic model a `Phase` field is validated from
that text and serialized as it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

PhaseKind = Literal["warmup", "before", "during", "between", "after", "whole"]
KINDS: tuple[PhaseKind, ...] = get_args(PhaseKind)
FAULT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""What a fault's name may be, so that it can stand in a phase (`during:<name>`)."""
EXPECTED = "expected whole, before, after, during:<fault> or after:<fault>"


@dataclass(frozen=True)
class Phase:
    """`kind`, and `fault` for `during` (required) and `after` (optional); see the module."""

    kind: PhaseKind
    fault: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown phase kind {self.kind!r} ({EXPECTED})")
        if self.kind == "during" and not self.fault:
            raise ValueError("a during phase names its fault: during:<fault>")
        if self.fault and self.kind not in ("during", "after"):
            raise ValueError(f"phase {self.kind!r} names no fault ({EXPECTED})")

    @classmethod
    def during(cls, fault: str) -> Phase:
        return cls("during", fault)

    @classmethod
    def after(cls, fault: str = "") -> Phase:
        return cls("after", fault)

    @classmethod
    def parse(cls, text: str) -> Phase:
        """The phase written as `text`; ValueError (one line) when it is none."""
        kind, colon, fault = text.partition(":")
        if kind not in KINDS or (colon and not FAULT_NAME.match(fault)):
            raise ValueError(f"unknown phase {text!r} ({EXPECTED})")
        try:
            return cls(kind, fault)  # type: ignore[arg-type]  # checked against KINDS above
        except ValueError:
            raise ValueError(f"unknown phase {text!r} ({EXPECTED})") from None

    def __str__(self) -> str:
        return f"{self.kind}:{self.fault}" if self.fault else self.kind

    @property
    def judged(self) -> bool:
        """Whether an SLO may judge this phase (`warmup` and `between` are never judged)."""
        return self.kind in ("whole", "before", "during", "after")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """In a model: read from its text (or a Phase), written back as its text."""
        return core_schema.no_info_plain_validator_function(
            _validate,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


def _validate(value: object) -> Phase:
    if isinstance(value, Phase):
        return value
    if isinstance(value, str):
        return Phase.parse(value)
    raise ValueError(f"expected a phase like 'during:<fault>', got {value!r}")


WHOLE = Phase("whole")
BEFORE = Phase("before")
WARMUP = Phase("warmup")
BETWEEN = Phase("between")
AFTER = Phase("after")
