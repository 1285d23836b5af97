"""`meshproof recover`: undo the faults of runs whose harness died before it could.

Every run registers its fault ledger under `<state dir>/ledgers/`; a run that ends cleanly
removes the registration. What is left belongs to a harness that was killed (or is still
running: those are left alone unless --force). Each pending fault is rolled back from its
ledger entry alone, newest first; exit 0 when everything was undone, 1 otherwise. A
Kubernetes object someone else changed after the fault did is not restored (the line
says which fields changed) unless --force. An API call is sent once and waited for
`CALL_TIMEOUT_S` at most; once a server was found unreachable the faults still to undo
there are not tried: they stay in the ledger for a later `recover` (a server that accepts
connections and never answers costs 5 s, not 30 s per fault).

Then each run whose run.json still says `running` while its harness is gone (the runs of
the ledgers, and those in --reports) is recorded as aborted, saying the harness died;
not one whose faults could not all be rolled back (recover tries again next time).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.commands import add_command
from harness.errors import FaultError, RunError

if TYPE_CHECKING:
    from rich.console import Console

    from harness.faults.ledger import Registration
    from harness.faults.undo import RollbackExecutor


CALL_TIMEOUT_S = 5.0
"""How long `recover` waits for one Kubernetes API call (one attempt, no retry)."""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "recover", "roll back the faults left in place by a harness that died", __doc__
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="meshproof's state directory (default: $MESHPROOF_STATE_DIR or ./.meshproof)",
    )
    parser.add_argument(
        "--reports",
        default="reports",
        metavar="DIR",
        help="runs folder: its runs whose harness died are recorded as aborted (default: reports)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="also roll back ledgers whose harness process is still running, and restore"
        " Kubernetes objects someone else changed since the fault",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.cli.console import make_console
    from harness.faults.ledger import registrations
    from harness.faults.undo import RollbackExecutor
    from harness.store.reader import list_runs
    from mesh_runtime.runtimes.deployment import state_root

    console = make_console()
    root = args.state_dir or state_root()
    found = registrations(root)
    if not found:
        console.print(f"No fault ledgers registered under {root / 'ledgers'}: nothing to recover.")
    left: set[Path] = set()  # run folders with faults still in effect: not recorded as ended
    for registration in found:
        executor = RollbackExecutor(force=args.force, call_timeout_s=CALL_TIMEOUT_S)
        if not recover_one(registration, console, force=args.force, executor=executor):
            left.add(registration.ledger.parent.resolve())
    folders = [registration.ledger.parent for registration in found]
    folders += [item.path for item in list_runs(Path(args.reports)) if item.status != "unreadable"]
    record_dead_runs(folders, left, console)
    return 1 if left else 0


def record_dead_runs(folders: list[Path], left: set[Path], console: Console) -> None:
    """Record each run in `folders` (once) whose harness died as aborted, unless its
    folder is in `left` (its faults are not all rolled back)."""
    from harness.store.writer import mark_harness_died

    seen: set[Path] = set()
    for folder in folders:
        key = folder.resolve()
        if key in seen or key in left or not folder.is_dir():
            continue
        seen.add(key)
        try:
            record = mark_harness_died(folder)
        except RunError as exc:
            console.print(f"[bold]{folder}[/bold]\n  [red]FAILED[/red] {exc}", markup=True)
            continue
        if record is not None:
            console.print(f"[bold]{folder}[/bold]")
            console.print(f"  recorded as aborted: {record.error}", markup=False)


def recover_one(
    registration: Registration, console: Console, *, force: bool, executor: RollbackExecutor
) -> bool:
    """Roll back one registered ledger; True when nothing of it is left in effect."""
    from harness.faults.ledger import FaultLedger, unregister
    from harness.faults.undo import describe_step

    ledger_path = registration.ledger
    console.print(f"[bold]{ledger_path}[/bold]")
    if registration.owner_alive() and not force:
        console.print(
            f"  [yellow]skipped[/yellow]: its harness (pid {registration.pid}) is still "
            "running; it rolls back its own faults (use --force to do it anyway)"
        )
        return False
    if not ledger_path.exists():
        console.print("  ledger file is gone; registration removed")
        unregister(registration.file)
        return True
    ledger = FaultLedger(ledger_path)
    pending = ledger.pending()
    if not pending:
        console.print("  nothing pending")
        unregister(registration.file)
        return True
    by_name = {item.name: item for item in pending}

    def report(name: str, error: Exception | None) -> None:
        steps = by_name[name].entry.get("steps", [])
        what = "; ".join(describe_step(step) for step in steps) or "nothing to do"
        if error is None:
            console.print(f"  [green]undone[/green] {name}: {what}")
        else:
            console.print(f"  [red]FAILED[/red] {name}: {what}: {error}")

    try:
        ledger.rollback_all(executor, report)
    except FaultError:  # each failure was reported above
        left = ", ".join(item.name for item in ledger.pending())
        console.print(
            f"  not rolled back: {left}; they stay in the ledger: run `meshproof recover`"
            " again once the cause is fixed",
            markup=False,
        )
        return False
    unregister(registration.file)
    return True
