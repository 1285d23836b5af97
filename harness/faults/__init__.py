"""Fault injectors per kind (registered in harness.faults.kinds), the on-disk fault ledger,
and undoing a fault from its ledger entry alone (harness.faults.undo)."""

from __future__ import annotations

from harness.faults.base import FaultContext, Injector
from harness.faults.kinds import REGISTRY, FaultKind, FaultKinds, make_injector
from harness.faults.ledger import LEDGER_FILE, FaultLedger, LedgerEntry, Registration, registrations
from harness.faults.steps import DeploymentStep, RollbackEntry, RollbackStep, StepKind, StepTools
from harness.faults.undo import RollbackExecutor

__all__ = [
    "LEDGER_FILE",
    "REGISTRY",
    "DeploymentStep",
    "FaultContext",
    "FaultKind",
    "FaultKinds",
    "FaultLedger",
    "Injector",
    "LedgerEntry",
    "Registration",
    "RollbackEntry",
    "RollbackExecutor",
    "RollbackStep",
    "StepKind",
    "StepTools",
    "make_injector",
    "registrations",
]
