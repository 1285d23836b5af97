"""The end of a dying harness stand-in (dying_harness.py, kube/dying_kube_harness.py): apply
each injector under a registered fault ledger, print APPLIED, wait to be SIGKILLed."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from harness.faults import Injector
from harness.faults.ledger import FaultLedger

MAX_WAIT_S = 120.0


def apply_and_wait(state_root: Path, ledger_file: Path, injectors: Iterable[Injector]) -> None:
    """Each injector begun in the ledger (registered under `state_root`) and applied; then
    APPLIED on stdout and a wait (bounded, though the test kills this process long before)."""
    ledger = FaultLedger(ledger_file)
    ledger.register(state_root)
    for injector in injectors:
        ledger.begin(injector.name, injector.rollback_entry())
        injector.apply()
    print("APPLIED", flush=True)
    deadline = time.monotonic() + MAX_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(0.1)
