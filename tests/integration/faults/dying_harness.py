"""A harness stand-in for the recover test: it applies a toxic, a pause and a kill, recording them
in a registered fault ledger, prints APPLIED, and waits to be SIGKILLed.

    python dying_harness.py STATE_ROOT LEDGER_FILE
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import TypeAdapter

from harness.faults import FaultContext, make_injector
from harness.spec.faults import FaultSpec
from mesh_runtime.runtimes.local import LocalRuntime
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient
from tests.integration.faults.dying import apply_and_wait

FAULTS = [
    {
        "name": "slow-catalog",
        "kind": "toxic",
        "target": "frontend->catalog",
        "params": {"type": "latency", "attributes": {"latency": 500}},
    },
    {"name": "freeze-cart", "kind": "process_pause", "target": "sidecar:cart-0"},
    {"name": "kill-inventory", "kind": "process_kill", "target": "service:inventory-0"},
]


def main(state_root: Path, ledger_file: Path) -> None:
    runtime = LocalRuntime(state_root=state_root)
    deployment = runtime.load("shop")
    ctx = FaultContext(
        deployment=deployment,
        runtime=runtime,
        toxiproxy=ToxiproxyClient(deployment.toxiproxy_url or ""),
        state_file=runtime.state_file("shop"),
    )
    adapter: TypeAdapter[FaultSpec] = TypeAdapter(FaultSpec)
    injectors = (make_injector(adapter.validate_python(fault), ctx) for fault in FAULTS)
    apply_and_wait(state_root, ledger_file, injectors)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
