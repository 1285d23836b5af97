"""A harness stand-in for the kubernetes runtime's pause recover test: it pauses a
container's processes of a deployment `up` made (through the fault-kind registry, as a
run does), recorded in a registered fault ledger, prints APPLIED, and waits to be
SIGKILLed.

    python dying_kube_pause_harness.py STATE_ROOT LEDGER_FILE DEPLOYMENT_STATE_FILE KIND TARGET
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.faults.base import FaultContext
from harness.faults.kinds import REGISTRY
from mesh_runtime.runtimes.deployment import load
from tests.integration.faults.dying import apply_and_wait


def main(args: list[str]) -> None:
    state_root, ledger_file, state_file = Path(args[0]), Path(args[1]), Path(args[2])
    kind, target = args[3], args[4]
    ctx = FaultContext(deployment=load(state_file), state_file=state_file, run="dying-run")
    fault = REGISTRY.kind(kind).model.model_validate(
        {"name": "paused", "kind": kind, "target": target}
    )
    apply_and_wait(state_root, ledger_file, [REGISTRY.make_injector(fault, ctx)])


if __name__ == "__main__":
    main(sys.argv[1:])
