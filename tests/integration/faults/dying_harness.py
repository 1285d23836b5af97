"""A harness stand-in for the recover test: it applies a toxic, a pause and a kill, recording them
in a registered fault ledger, prints APPLIED, and waits to be SIGKILLed.

    python dying_harness.py STATE_ROOT LEDGER_FILE
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pydantic import TypeAdapter

from harness.faults import FaultContext, FaultLedger, make_injector
from harness.spec.faults import FaultSpec
from mesh_runtime.runtimes.local import LocalRuntime
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient

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
MAX_WAIT_S = 120.0


def main(state_root: Path, ledger_file: Path) -> None:
    runtime = LocalRuntime(state_root=state_root)
    deployment = runtime.load("shop")
    ctx = FaultContext(
        deployment=deployment,
        runtime=runtime,
        toxiproxy=ToxiproxyClient(deployment.toxiproxy_url or ""),
        state_file=runtime.state_file("shop"),
    )
    ledger = FaultLedger(ledger_file)
    ledger.register(state_root)
    adapter: TypeAdapter[FaultSpec] = TypeAdapter(FaultSpec)
    for fault in FAULTS:
        injector = make_injector(adapter.validate_python(fault), ctx)
        ledger.begin(injector.name, injector.rollback_entry())
        injector.apply()
    print("APPLIED", flush=True)
    deadline = time.monotonic() + MAX_WAIT_S  # killed long before; bounded all the same
    while time.monotonic() < deadline:
        time.sleep(0.1)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
