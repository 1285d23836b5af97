"""The sections of `make bench` and which of them a run does (`--only`), pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mesh_runtime.errors import InvalidInput


@dataclass(frozen=True)
class Section:
    """One benchmark: its `--only` name, the heading printed before it, and how it runs
    (`run(quick) -> exit status`)."""

    name: str
    title: str
    run: Callable[[bool], int]


def chosen(sections: Sequence[Section], only: Sequence[str]) -> list[Section]:
    """The sections named in `only` (each once, in the bench's order); all when `only` is
    empty. An unknown name is one InvalidInput line naming the known ones."""
    names = [name for text in only for name in text.split(",") if name]
    known = {section.name for section in sections}
    unknown = [name for name in names if name not in known]
    if unknown:
        listed = ", ".join(section.name for section in sections)
        problem = f"unknown bench section {unknown[0]!r}; the sections are: {listed}"
        raise InvalidInput("--only", "", problem)
    return [section for section in sections if not names or section.name in names]
