"""The plan handed to the Locust processes, and what the driver refuses before starting."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import RunError
from harness.load import LoadDriver
from harness.load.plan import LoadPlan
from harness.spec.load import LoadSpec, RouteSpec, Stage

SPEC = LoadSpec(
    rps=250,
    duration="20s",
    warmup="5s",
    timeout="750ms",
    stages=[Stage(duration="10s", rps=500)],
    routes=[RouteSpec(name="cart", method="POST", path="/cart", body='{"n": 1}')],
)


def test_plan_survives_its_json_file(tmp_path: Path) -> None:
    """A plan written and read back is the same plan (durations, stages, routes, t0)."""
    plan = LoadPlan(
        spec=SPEC, target_url="http://127.0.0.1:1", work_dir=tmp_path, t0=None, parent_pid=1
    )
    plan.write(tmp_path / "plan.json")
    assert LoadPlan.read(tmp_path / "plan.json") == plan


def test_a_plan_names_only_what_differs_from_the_defaults(tmp_path: Path) -> None:
    """The Locust processes of an earlier revision (a benchmark's baseline) refuse options
    they do not know: an option left at its default (`idle_timeout`) is not in the plan."""
    plan = LoadPlan(
        spec=SPEC, target_url="http://127.0.0.1:1", work_dir=tmp_path, t0=None, parent_pid=1
    )
    assert "idle_timeout" not in plan.as_json()
    assert '"rps":250' in plan.as_json().replace(" ", "")
    changed = LoadPlan.model_validate_json(
        plan.model_copy(update={"spec": SPEC.model_copy(update={"idle_timeout": 5.0})}).as_json()
    )
    assert changed.spec.idle_timeout == 5.0


def test_deadline_is_t0_plus_the_whole_schedule_plus_the_timeout(tmp_path: Path) -> None:
    """Warm-up 5 s + stages 10 s + timeout 0.75 s after t0."""
    plan = LoadPlan(spec=SPEC, target_url="http://x:1", work_dir=tmp_path, t0=100.0, parent_pid=1)
    assert plan.deadline(100.0) == pytest.approx(115.75)


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://127.0.0.1/", "http://"])
def test_driver_refuses_a_target_that_is_not_an_http_url(url: str, tmp_path: Path) -> None:
    """A target URL without http(s) scheme and host is one clear RunError, before any process."""
    with pytest.raises(RunError, match="not an http"):
        LoadDriver(SPEC, url, tmp_path)


def test_t0_is_unknown_until_start(tmp_path: Path) -> None:
    """Asking a driver with t0=None for t0 before start() is an error, not a guess."""
    with pytest.raises(RunError, match="after start"):
        _ = LoadDriver(SPEC, "http://127.0.0.1:1", tmp_path).t0
