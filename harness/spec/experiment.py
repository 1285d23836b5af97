"""The experiment file as a whole: title, target, load, faults, SLOs, rollbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from harness.errors import ExperimentError
from harness.spec.faults import FaultSpec
from harness.spec.load import LoadSpec
from harness.spec.params import behaviour_change, policy_patch
from harness.spec.recovery import RecoverySpec
from harness.spec.slo import SLO
from mesh_runtime.validation import NestedProblem, load_model


class Target(BaseModel):
    """What the experiment runs against: a topology meshproof deploys, or an external mesh
    (`external:`, a target file; `meshproof run --target FILE` overrides either)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topology: str | None = None
    """Topology file, relative to the experiment file."""
    external: str | None = None
    """Target file of a mesh meshproof did not deploy, relative to the experiment file
    (`mesh_runtime.target`); nothing is deployed or torn down."""
    runtime: Literal["local", "docker", "kubernetes"] = "local"
    """kubernetes: `run` needs --kubeconfig (and --namespace); validate checks the faults
    that runtime carries out (`harness.spec.kube_runtime`)."""
    mode: Literal["mesh", "no-mesh"] = "mesh"
    compare_to: Literal["mesh", "no-mesh"] | None = None
    """After the main run, deploy the topology again in this mode and run the same load
    against it; `overhead_*` metrics compare the two (mesh-overhead experiments)."""

    @model_validator(mode="after")
    def _one_target(self) -> Target:
        if (self.topology is None) == (self.external is None):
            raise ValueError("give either topology or external (a target file), not both")
        if self.external is not None:
            deploying = sorted({"runtime", "mode", "compare_to"} & self.model_fields_set)
            if deploying:
                raise NestedProblem(
                    deploying[0], "an external target is not deployed by meshproof; leave it out"
                )
        return self


class Rollback(BaseModel):
    """An extra action at the end of a run (each fault has its own rollback built in)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["policy", "service_behaviour", "reset_toxics"]
    target: str = ""
    params: dict[str, Any] = {}

    @field_validator("params")
    @classmethod
    def _params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """The params of a policy or behaviour rollback, checked (and typed) as the fault
        kinds' are."""
        kind = info.data.get("kind")
        check = {"policy": policy_patch, "service_behaviour": behaviour_change}.get(str(kind))
        if check is None:
            if params and kind is not None:
                first = next(iter(params))
                raise NestedProblem(f"{first}", f"unknown field; {kind} takes no params")
            return params
        try:
            return check(params)
        except NestedProblem:
            raise
        except ValueError as exc:
            raise NestedProblem("", str(exc)) from None


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1)
    description: str = ""
    target: Target
    load: LoadSpec = LoadSpec()
    faults: list[FaultSpec] = []
    slos: list[SLO] = []
    recovery: RecoverySpec | None = None
    """What `recovery_s` checks after each fault (a fault's own `recovery:` wins)."""
    rollbacks: list[Rollback] = []
    tags: list[str] = []

    @model_validator(mode="after")
    def _timeline(self) -> Experiment:
        if self.target.compare_to == self.target.mode:
            raise ValueError("target.compare_to: must differ from target.mode")
        names = [f.name for f in self.faults]
        if len(set(names)) != len(names):
            raise ValueError("faults: fault names must be distinct")
        measured = self.load.measured_duration
        for index, fault in enumerate(self.faults):
            if fault.at >= measured:
                raise ValueError(
                    f"faults[{index}].at: starts at {fault.at:g}s, after the load ends ({measured:g}s)"
                )
        for slo in self.slos:
            if slo.metric.startswith("overhead_") and self.target.compare_to is None:
                raise ValueError(f"slos: {slo.name!r} needs target.compare_to (e.g. no-mesh)")
            fault_name = slo.phase.fault
            if fault_name and fault_name not in names:
                raise ValueError(f"slos: {slo.name!r} names no fault of this experiment")
            if (
                fault_name
                and slo.phase.kind == "after"
                and self._fault(fault_name).duration is None
            ):
                raise ValueError(
                    f"slos: {slo.name!r}: fault {fault_name!r} has no duration, so no end"
                )
            if slo.metric == "recovery_s":
                self._recovery_judged(slo)
        return self

    def _recovery_judged(self, slo: SLO) -> None:
        """A recovery_s SLO names a phase in which a fault ends."""
        fault_name = slo.phase.fault
        if slo.phase.kind == "before":
            raise ValueError(
                f"slos: {slo.name!r}: recovery_s is measured after a fault ends"
                " (phases during:<fault>, after:<fault>, after or whole)"
            )
        if fault_name and self._fault(fault_name).duration is None:
            raise ValueError(
                f"slos: {slo.name!r}: fault {fault_name!r} has no duration, so no recovery"
            )
        if not any(f.duration is not None for f in self.faults):
            raise ValueError(f"slos: {slo.name!r}: recovery_s needs a fault with a duration")

    def _fault(self, name: str) -> FaultSpec:
        return next(f for f in self.faults if f.name == name)


def load_experiment(path: str | Path) -> tuple[Experiment, Path]:
    """The validated experiment and the file its target names (resolved next to it): its
    topology file, or the target file of an external mesh (`target.external`)."""
    experiment = load_model(path, Experiment, ExperimentError, _not_an_experiment)
    field = "target.topology" if experiment.target.topology is not None else "target.external"
    named = experiment.target.topology or experiment.target.external
    assert named is not None  # Target's validator: exactly one of the two
    target = (Path(path).parent / named).resolve()
    if not target.is_file():
        problem = "not a file" if target.exists() else "no such file"  # a folder, /dev/null
        raise ExperimentError(str(path), field, f"{problem}: {target}")
    return experiment, target


def _not_an_experiment(data: dict[str, Any]) -> str | None:
    """A topology file given where an experiment file belongs."""
    if "services" in data and "target" not in data and "title" not in data:
        return (
            "this is a topology file; `run` and `validate` take an experiment file"
            " (`meshproof up` takes a topology)"
        )
    return None
