"""Where a calibration lives and how it is read and written.

`<reports>/calibration/<experiment>.json`, beside the runs it was made for: `compare`
looks there for the experiment of its baseline runs (their reports folder), `gate` in its
history folder.
"""

from __future__ import annotations

from pathlib import Path

from harness.calibrate.model import Calibration
from harness.store.writer import write_files
from mesh_runtime.errors import InvalidInput
from mesh_runtime.validation import load_model

FOLDER = "calibration"


def calibration_path(reports_dir: str | Path, experiment: str) -> Path:
    return Path(reports_dir) / FOLDER / f"{experiment}.json"


def write_calibration(calibration: Calibration, reports_dir: str | Path) -> Path:
    """Write the file (its folder made if missing) and return its path."""
    path = calibration_path(reports_dir, calibration.experiment)
    text = calibration.model_dump_json(indent=2) + "\n"
    write_files(path.parent, {path.name: text}, "the calibration")
    return path


def load_calibration(path: str | Path) -> Calibration:
    """The calibration in `path`; InvalidInput naming the file when it is not one."""
    return load_model(path, Calibration, InvalidInput)


def find_calibration(reports_dir: str | Path, experiment: str) -> Calibration | None:
    """The experiment's calibration in `reports_dir`, or None when there is none."""
    path = calibration_path(reports_dir, experiment)
    return load_calibration(path) if path.is_file() else None
