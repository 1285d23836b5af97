"""junit.xml of a `gate` or `compare` that refused its input (exit 2), for CI test reports.

A nightly job points its test reporter at junit.xml; without one a refused gate showed
"no test results" instead of why. The refusal's one line (printed as before by
`harness.cli.main`) becomes a testcase's `<error>` (`harness.report.junit.refusal_xml`),
written where the command writes its reports; nowhere when that folder cannot be told
(a run that resolves to nothing and no --out) or written (the refusal is what counts).
Imported by the command handlers only, not at parser build time.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from harness.report.junit import refusal_xml
from harness.store.reader import load_run, resolve_run
from harness.store.writer import write_files
from mesh_runtime.errors import MeshproofError


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


def write_refusal(exc: MeshproofError, command: str, subject: str, folder: Path | None) -> None:
    """junit.xml in `folder` saying `command` refused with `exc`; nothing when `folder`
    is None or cannot be written (the refusal, printed by the caller, says enough)."""
    if folder is None:
        return
    text = refusal_xml(command, subject, str(exc), type(exc).__name__)
    with contextlib.suppress(MeshproofError):
        write_files(folder, {"junit.xml": text}, "junit.xml")
