"""Which earlier runs a run is judged against: those made against the same deployment
(the gate's history, the runs `calibrate --history` measures the spread of).

A run's deployment is its runtime (local, docker, kubernetes, external) and, for an
external target, that target (`TargetRef.identity`: its name, mesh and ingress URL, not
the target file's path). Runs of one experiment against the local reference mesh and
against staging are not one history: a nightly gate of staging judged against local
runs finds a regression that is only the other deployment, or hides one. A record
written before run.json named its target has none, and matches records without one.
Pure: records in, records out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from harness.store.model import RunRecord

T = TypeVar("T")

Deployment = tuple[str, tuple[str, str, str] | None]
"""(runtime, the external target's identity or None)."""


def deployment_of(record: RunRecord) -> Deployment:
    """What the run was against: its runtime and, for an external target, which one."""
    return record.runtime, record.target.identity if record.target is not None else None


def same_deployment(
    own: Deployment | None, earlier: Sequence[T], of: Callable[[T], Deployment | None]
) -> tuple[list[T], list[T]]:
    """(the runs of `earlier` made against the deployment `own`, the others), each in the
    order given; `of` tells a run's deployment (`deployment_of` for records,
    `RunListing.deployment` for listings, which spares reading run.json again)."""
    same = [run for run in earlier if of(run) == own]
    others = [run for run in earlier if of(run) != own]
    return same, others


def deployment_text(record: RunRecord) -> str:
    """'the local runtime', or the external target ('staging-istio.yaml (staging-shop,
    istio, https://shop.staging.example)')."""
    if record.target is not None:
        return record.target.describe()
    return f"the {record.runtime} runtime"


def other_deployments_line(count: int) -> str:
    """'2 earlier runs of this experiment were against other deployments: left out'."""
    runs = "run of this experiment was" if count == 1 else "runs of this experiment were"
    where = "another deployment" if count == 1 else "other deployments"
    return f"{count} earlier {runs} against {where}: left out"
