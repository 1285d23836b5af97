"""What every fault of an experiment file has, whatever its kind: a name, when it starts
and how long it lasts, what its recovery check looks at, and its kind's target rule.

Its own module so that the fault models of every family (`harness.spec.faults`, the
Kubernetes kinds of `harness.spec.kube_faults`) build on it and `FaultSpec` can list them
all without an import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, field_validator

from harness.spec.external_rules import reference_only_problem
from harness.spec.recovery import RecoverySpec
from mesh_runtime.target import TargetFile
from mesh_runtime.topology import Topology
from mesh_runtime.units import Duration

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class FaultModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FieldProblem = tuple[str, str]
"""(field, problem): e.g. ('target', "no service 'x' in topology shop")."""


class FaultBase(FaultModel):
    name: str
    at: Duration = 0.0
    duration: Duration | None = None
    recovery: RecoverySpec | None = None
    """What `recovery_s` of this fault checks (else the experiment's `recovery:`)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("expected a short name of letters, digits, '-', '_' or '.'")
        return value

    def topology_problem(
        self, topology: Topology, faults: Sequence[FaultBase]
    ) -> FieldProblem | None:
        """Why this fault does not fit `topology` (its kind's target rule, from
        `harness.spec.targets`, and any check of its own), or None. `faults` are the
        experiment's (a policy fault may add the route a mesh fault names)."""
        raise NotImplementedError(f"{type(self).__name__} has no target rule")

    def external_problem(self, target: TargetFile) -> FieldProblem | None:
        """Why this fault cannot act on the external mesh `target` (a target file), or
        None (`harness.spec.external_rules`). A kind acts on the reference mesh's own
        parts unless its model says otherwise: refused."""
        return ("kind", reference_only_problem(str(getattr(self, "kind", "")), target))
