"""The experiment file as a whole: title, target, load, faults, SLOs, rollbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.spec.faults import FaultSpec
from harness.spec.load import LoadSpec
from harness.spec.slo import SLO
from mesh_runtime.errors import ExperimentError
from mesh_runtime.validation import load_model


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    topology: str
    """Topology file, relative to the experiment file."""
    runtime: Literal["local", "docker"] = "local"
    mode: Literal["mesh", "no-mesh"] = "mesh"
    compare_to: Literal["mesh", "no-mesh"] | None = None
    """After the main run, deploy the topology again in this mode and run the same load
    against it; `overhead_*` metrics compare the two (mesh-overhead experiments)."""


class Rollback(BaseModel):
    """An extra action at the end of a run (each fault has its own rollback built in)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["policy", "service_behaviour", "reset_toxics"]
    target: str = ""
    params: dict[str, object] = {}


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1)
    description: str = ""
    target: Target
    load: LoadSpec = LoadSpec()
    faults: list[FaultSpec] = []
    slos: list[SLO] = []
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
            kind, colon, fault_name = slo.phase.partition(":")
            if colon and fault_name not in names:
                raise ValueError(f"slos: {slo.name!r} names no fault of this experiment")
            if colon and kind == "after" and self._fault(fault_name).duration is None:
                raise ValueError(
                    f"slos: {slo.name!r}: fault {fault_name!r} has no duration, so no end"
                )
        return self

    def _fault(self, name: str) -> FaultSpec:
        return next(f for f in self.faults if f.name == name)


def load_experiment(path: str | Path) -> tuple[Experiment, Path]:
    """The validated experiment and its topology file's path (resolved next to it)."""
    experiment = load_model(path, Experiment, ExperimentError)
    topology = (Path(path).parent / experiment.target.topology).resolve()
    if not topology.is_file():
        raise ExperimentError(str(path), "target.topology", f"no such file: {topology}")
    return experiment, topology
