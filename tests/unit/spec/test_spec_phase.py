"""A phase's text form read and written in one place (harness.spec.phase), pure."""

from __future__ import annotations

import pytest

from harness.errors import ExperimentError
from harness.spec import SLO, Experiment
from harness.spec.phase import AFTER, BETWEEN, WARMUP, WHOLE, Phase
from mesh_runtime.validation import model_from_data


@pytest.mark.parametrize(
    ("text", "phase"),
    [
        ("whole", WHOLE),
        ("warmup", WARMUP),
        ("between", BETWEEN),
        ("after", AFTER),
        ("during:catalog-503", Phase("during", "catalog-503")),
        ("after:v2_0.5", Phase("after", "v2_0.5")),
    ],
)
def test_text_round_trips(text: str, phase: Phase) -> None:
    """Every phase run.json holds parses to its kind and fault and is written back the same."""
    assert Phase.parse(text) == phase
    assert str(phase) == text


@pytest.mark.parametrize(
    "text", ["", "during", "during:", "durin:x", "before:x", "whole:x", "after:-x", "x:y"]
)
def test_bad_text_is_one_line(text: str) -> None:
    """A phase that is none: one line naming it and what is expected."""
    with pytest.raises(ValueError, match="unknown phase") as caught:
        Phase.parse(text)
    assert "\n" not in str(caught.value) and "during:<fault> or after:<fault>" in str(caught.value)


def test_slo_phase_is_typed_and_kept_as_text() -> None:
    """An SLO's phase is a Phase; in the experiment's JSON form (run.json) it is its text."""
    slo = SLO.model_validate("error_rate < 0.01 after:x")
    assert slo.phase == Phase.after("x") and slo.name == "error_rate < 0.01 after:x"
    assert slo.model_dump(mode="json")["phase"] == "after:x"
    assert SLO.model_validate(slo.model_dump(mode="json")) == slo
    assert SLO.model_validate("p99_ms < 5").phase == WHOLE


@pytest.mark.parametrize(
    ("slo", "problem"),
    [
        ("p99_ms < 250 during", "x.yaml: slos[0].phase: unknown phase 'during' (expected whole"),
        ("p99_ms < 250 warmup", "x.yaml: slos[0]: phase 'warmup' is never judged (expected whole"),
    ],
)
def test_bad_slo_phase_is_one_line(slo: str, problem: str) -> None:
    """An SLO with a phase that is none, or one never judged, is refused in one line."""
    data = {"title": "t", "target": {"topology": "topologies/shop.yaml"}, "slos": [slo]}
    with pytest.raises(ExperimentError) as caught:
        model_from_data(data, Experiment, "x.yaml", ExperimentError)
    assert str(caught.value).startswith(problem) and "\n" not in str(caught.value)
