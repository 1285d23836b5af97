"""Calibration: how much runs of one experiment differ on this host, stored as tolerances.

calibration = calibration_of([StoredRun(p) for p in run_dirs], "history")   # .measure
write_calibration(calibration, "reports")     # reports/calibration/<experiment>.json

`harness.calibrate.measure` (runs -> Calibration) imports the comparison's measures, so it
is imported by name, not from here; `harness.compare` imports only the model and store.
"""

from harness.calibrate.model import MIN_RUNS, Calibration, CalibrationRun, MetricSpread
from harness.calibrate.store import (
    calibration_path,
    find_calibration,
    load_calibration,
    write_calibration,
)

__all__ = [
    "MIN_RUNS",
    "Calibration",
    "CalibrationRun",
    "MetricSpread",
    "calibration_path",
    "find_calibration",
    "load_calibration",
    "write_calibration",
]
