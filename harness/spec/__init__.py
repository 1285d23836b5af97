"""The experiment file: one typed model, validated at the edge."""

from harness.spec.experiment import Experiment, Target, load_experiment
from harness.spec.faults import FAULT_KINDS, FaultSpec
from harness.spec.load import LoadSpec, RouteSpec, Stage
from harness.spec.phase import Phase
from harness.spec.slo import METRICS, SLO

__all__ = [
    "FAULT_KINDS",
    "METRICS",
    "SLO",
    "Experiment",
    "FaultSpec",
    "LoadSpec",
    "Phase",
    "RouteSpec",
    "Stage",
    "Target",
    "load_experiment",
]
