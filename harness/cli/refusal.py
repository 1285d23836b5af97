"""junit.xml of a `gate`, `compare` or `validate-upgrade` that refused its input (exit 2),
for CI test reports.

A nightly job points its test reporter at junit.xml; without one a refused gate showed
"no test results" instead of why. `refusing` runs a command's handler; a MeshproofError
out of it (printed as before by `harness.cli.main`) becomes a testcase's `<error>`
(`harness.report.junit.refusal_xml`), written where the command writes its reports;
nowhere when that folder cannot be told (a run that resolves to nothing and no --out) or
written (the refusal is what counts). The command's other report files from an earlier
call (gate.md and gate.json, compare.md and compare.json) are removed from that folder:
a CI job archiving it would otherwise publish the earlier verdict beside the error.
Imported by the command handlers only, not at parser build time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from pathlib import Path

from harness.report.junit import refusal_xml
from harness.store.reader import load_run, resolve_run
from harness.store.writer import write_files
from mesh_runtime.errors import MeshproofError

JUNIT = "junit.xml"

Refused = tuple[str, Path | None]
"""Where a refusal is reported: the suite's subject (the experiment) and the folder."""


def refusing(
    command: str, reports: Collection[str], handler: Callable[[], int], at: Callable[[], Refused]
) -> int:
    """`handler()`; a refusal (MeshproofError) also leaves junit.xml in the folder `at()`
    names, minus the rest of `reports` (the files the command writes there), then goes on up."""
    try:
        return handler()
    except MeshproofError as exc:
        subject, folder = at()
        write_refusal(exc, command, subject, folder, reports)
        raise


def run_dir_or_none(ref: str, reports: Path) -> Path | None:
    """The folder `ref` names (as `resolve_run` finds it), or None when it names none."""
    try:
        return resolve_run(ref, reports)
    except MeshproofError:
        return None


def experiment_of(run_dir: Path | None) -> str | None:
    """The experiment of the run in `run_dir`, or None when it cannot be read."""
    try:
        return load_run(run_dir).experiment.name if run_dir else None
    except MeshproofError:
        return None


def run_id(run_dir: Path) -> str:
    """The run's id as reports name it: run.json's, else (unreadable) its folder's name."""
    try:
        return load_run(run_dir).id or run_dir.name
    except MeshproofError:
        return run_dir.name


def write_refusal(
    exc: MeshproofError,
    command: str,
    subject: str,
    folder: Path | None,
    reports: Collection[str],
) -> None:
    """junit.xml in `folder` saying `command` refused with `exc`, and the other files of
    `reports` removed from it; nothing when `folder` is None or junit.xml cannot be
    written (the refusal, printed by the caller, says enough)."""
    if folder is None:
        return
    text = refusal_xml(command, subject, str(exc), type(exc).__name__)
    try:
        write_files(folder, {JUNIT: text}, JUNIT)
    except MeshproofError:
        return
    for name in sorted(set(reports) - {JUNIT}):
        with contextlib.suppress(OSError):  # a folder of that name is not ours to remove
            (folder / name).unlink(missing_ok=True)
