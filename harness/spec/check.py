"""Everything the files alone decide, checked before anything is deployed.

`check_experiment(path, duration_s, target)` is what `meshproof validate` and `run` (and
`validate-upgrade`) do first: the experiment file and its topology parsed and validated,
each fault's target found in the topology (for an external target - `target.external` or
`target`, the `--target FILE` override - the target file instead, `harness.spec.external`), the timeline long enough for every fault and
recovery check (also scaled to `--duration`), and the warnings about SLOs the faults
rule out. A problem is one `ExperimentError` line (exit 2); warnings travel beside the
validated model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import ExperimentError
from harness.spec.experiment import Experiment, load_experiment
from harness.spec.external import check_external, external_warnings
from harness.spec.kube_runtime import COMPARE_ON_KUBERNETES, kubernetes_problem
from harness.spec.kube_runtime import RUNTIME as KUBERNETES
from harness.spec.lint import SpecWarning, experiment_warnings
from harness.spec.load import grpc_route_problem, tcp_route_problem
from harness.spec.targets import part_problem
from harness.spec.timing import scaled_problem, timeline_problem
from mesh_runtime.target import TargetFile, load_target
from mesh_runtime.topology import Topology, load_topology
from mesh_runtime.units import format_duration


@dataclass(frozen=True)
class CheckedExperiment:
    """A validated experiment (as written, not scaled), its topology, and its warnings.

    For an external target `topology_path` is the target file (what the `external`
    runtime is given to "deploy") and `topology` its call graph."""

    experiment: Experiment
    topology_path: Path
    topology: Topology
    warnings: tuple[SpecWarning, ...] = ()
    external: TargetFile | None = None

    @property
    def runtime(self) -> str | None:
        """`external` for an external target; None: the experiment's (or --runtime's)."""
        return "external" if self.external is not None else None


def check_experiment(
    path: str | Path,
    duration_s: float | None = None,
    target: str | Path | None = None,
    runtime: str | None = None,
) -> CheckedExperiment:
    """The checked experiment in `path`; `duration_s` is `--duration` (the whole run),
    `target` a target file that replaces the experiment's target (`--target`), `runtime`
    the runtime that replaces `target.runtime` (`--runtime`)."""
    source = str(path)
    experiment, topology_path = load_experiment(path)
    external: TargetFile | None = None
    if target is not None or experiment.target.external is not None:
        topology_path = Path(target).resolve() if target is not None else topology_path
        external = load_target(topology_path)
        topology = external.topology()
        check_external(experiment, external, source)
    else:
        topology = load_topology(topology_path)
        runtime = runtime or experiment.target.runtime
        if runtime == KUBERNETES and experiment.target.compare_to is not None:
            raise ExperimentError(source, "target.compare_to", COMPARE_ON_KUBERNETES)
        check_targets(experiment, topology, source, runtime)
    problem = timeline_problem(experiment)
    if problem is not None:
        raise ExperimentError(source, *problem)
    if duration_s is not None:
        if duration_s <= 0:
            raise ExperimentError(source, "--duration", "expected a duration longer than 0s")
        scaled = scaled_problem(experiment, duration_s)
        if scaled is not None:
            raise ExperimentError(source, "--duration", scaled)
    warnings = tuple(experiment_warnings(experiment, source))
    if external is not None:
        warnings += tuple(external_warnings(experiment, source))
    return CheckedExperiment(experiment, topology_path, topology, warnings, external)


def check_targets(
    experiment: Experiment, topology: Topology, source: str, runtime: str = "local"
) -> None:
    """Every fault fits the topology (its kind's target rule; on the kubernetes runtime
    `kube_runtime.kubernetes_problem`), every tcp (grpc) load route names a `protocol: tcp`
    (`grpc`) service, every rollback names a part the topology has; ExperimentError
    otherwise."""
    for index, route in enumerate(experiment.load.routes):
        for kind, problem_of in (("tcp", tcp_route_problem), ("grpc", grpc_route_problem)):
            route_problem = problem_of(route, topology)
            if route_problem:
                field = f"load.routes[{index}].{kind}.service"
                raise ExperimentError(source, field, route_problem)
    for index, fault in enumerate(experiment.faults):
        if runtime == KUBERNETES:
            problem = kubernetes_problem(fault, topology, experiment.faults)
        else:
            problem = fault.topology_problem(topology, experiment.faults)
        if problem is not None:
            field, text = problem
            raise ExperimentError(source, f"faults[{index}].{field}", text)
    for index, rollback in enumerate(experiment.rollbacks):
        if rollback.kind in TARGETED_ROLLBACKS:
            unknown = part_problem(rollback.target, topology)
            if unknown:
                raise ExperimentError(source, f"rollbacks[{index}].target", unknown)


TARGETED_ROLLBACKS = frozenset({"policy", "service_behaviour"})
"""Rollback kinds acting on a part of the mesh, checked as their fault kinds' targets
(`reset_toxics` acts on every proxy)."""


def describe(checked: CheckedExperiment, duration_s: float | None = None) -> str:
    """'ok: <title> (<n> faults, <m> SLOs, <duration>)' - validate's line ('1 fault'); with `duration_s`
    (`--duration`) the length the run will have and the file's it was scaled from."""
    experiment = checked.experiment
    duration = format_duration(experiment.load.total_duration)
    if duration_s is not None:
        duration = f"{format_duration(duration_s)}, --duration scaled from {duration}"
    faults, slos = len(experiment.faults), len(experiment.slos)
    return (
        f"ok: {experiment.title} ({faults} fault{'' if faults == 1 else 's'}, "
        f"{slos} SLO{'' if slos == 1 else 's'}, {duration})"
    )
