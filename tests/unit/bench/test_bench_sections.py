"""`python -m harness.bench --only`: which sections run, and a clear line for an unknown one."""

from __future__ import annotations

import pytest

from harness.bench.__main__ import SECTIONS, main
from harness.bench.sections import Section, chosen
from mesh_runtime.errors import InvalidInput


def sections(ran: list[str]) -> list[Section]:
    return [Section(name, name, lambda quick, n=name: ran.append(n) or 0) for name in "abc"]


def test_no_selection_runs_every_section_in_order() -> None:
    """Without --only every section runs, in the bench's order."""
    assert [s.name for s in chosen(sections([]), [])] == ["a", "b", "c"]


def test_selection_keeps_the_bench_order_and_takes_commas() -> None:
    """--only c --only a,b runs a, b, c once each, in the bench's order."""
    assert [s.name for s in chosen(sections([]), ["c", "a,b", "a"])] == ["a", "b", "c"]


def test_unknown_section_names_the_known_ones() -> None:
    """An unknown name is one line that lists the sections there are."""
    with pytest.raises(InvalidInput, match=r"unknown bench section 'd'; the sections are: a, b, c"):
        chosen(sections([]), ["a,d"])


def test_main_refuses_an_unknown_section_before_running_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--only nope` exits 2 with one line on stderr and runs nothing."""
    assert main(["--only", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert "unknown bench section 'nope'" in captured.err


def test_the_cost_curves_are_sections() -> None:
    """The run-size and mesh-size curves can be run alone."""
    assert {"run-size", "mesh-size", "load"} <= {s.name for s in SECTIONS}
