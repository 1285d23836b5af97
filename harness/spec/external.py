"""An experiment checked against an external target (a mesh meshproof did not deploy).

Nothing of such a mesh is meshproof's to kill, pause or reconfigure through the reference
control plane, so each fault's own rule (`external_problem(target)` on its model, from
`harness.spec.external_rules`) refuses the kinds that need the reference mesh, a network
fault without a Toxiproxy proxy on its edge, another mesh's API kind and a Kubernetes
namespace outside the target's list; the experiment as a whole may not ask to deploy a
second mode or roll back through the reference mesh. All by `validate`, before anything
runs. Pure: the files alone decide.
"""

from __future__ import annotations

from harness.errors import ExperimentError
from harness.spec.experiment import Experiment
from harness.spec.kube_faults import interleaved_changes
from harness.spec.lint import SpecWarning
from mesh_runtime.target import TargetFile

REFERENCE_ROLLBACKS = frozenset({"policy", "service_behaviour"})
"""Experiment rollbacks that act through the reference mesh's control plane or services."""


def check_external(experiment: Experiment, target: TargetFile, source: str) -> None:
    """ExperimentError (one line) when `experiment` cannot run against `target` as written."""
    if experiment.target.compare_to is not None:
        raise ExperimentError(
            source,
            "target.compare_to",
            f"an external target ({target.name}) is not deployed by meshproof, so it cannot"
            " be deployed again in another mode",
        )
    if experiment.target.mode != "mesh":
        raise ExperimentError(
            source, "target.mode", f"an external target ({target.name}) is a mesh as it runs"
        )
    for index, fault in enumerate(experiment.faults):
        problem = fault.external_problem(target)
        if problem is not None:
            field, text = problem
            raise ExperimentError(source, f"faults[{index}].{field}", text)
    for index, route in enumerate(experiment.load.routes):
        kind = "tcp" if route.tcp is not None else "grpc" if route.grpc is not None else ""
        if kind:
            raise ExperimentError(
                source,
                f"load.routes[{index}].{kind}",
                f"a {kind} route enters through the reference mesh's ingress sidecar; the"
                f" target {target.name} has no {kind} ingress",
            )
    for index, rollback in enumerate(experiment.rollbacks):
        if rollback.kind in REFERENCE_ROLLBACKS:
            raise ExperimentError(
                source,
                f"rollbacks[{index}].kind",
                f"{rollback.kind} needs the reference mesh meshproof deploys; the target"
                f" {target.name} is an external {target.mesh} mesh",
            )


def external_warnings(experiment: Experiment, source: str) -> list[SpecWarning]:
    """What validate says about faults on an external mesh besides refusing them (a
    Kubernetes kind's own `warnings()`: Istio turns off retries on a faulted route...)."""
    found: list[SpecWarning] = []
    for index, fault in enumerate(experiment.faults):
        own = getattr(fault, "warnings", None)
        if callable(own):
            found.extend(SpecWarning(source, f"faults[{index}]", text) for text in own())
    for index, text in interleaved_changes(experiment.faults):
        found.append(SpecWarning(source, f"faults[{index}]", text))
    return found
