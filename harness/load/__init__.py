"""The load driver: Locust in processes of its own, open-loop pacing, per-request records.

    driver = LoadDriver(spec, "http://127.0.0.1:8080", work_dir, t0=None)
    t0 = driver.start()         # Locust master + spec.workers workers, users spawned;
                                # t0 given, or picked just after the workers are ready
    driver.live()               # LiveStats for a progress display
    driver.wait(timeout)        # until the schedule is done (never past the hard deadline)
    driver.stop()               # nothing left running
    driver.records_files()      # requests-w<i>.jsonl, one JSON object per request

Nothing imported here imports Locust or gevent (`locust_main` and `user` run only in the
Locust processes). The public names are imported on first use: `python -m
harness.load.locust_main` runs this file first, and Locust must monkey-patch before
anything else (the experiment models' imports among them) has imported `ssl`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_exports

if TYPE_CHECKING:
    from harness.load.driver import LoadDriver
    from harness.load.livestats import LiveStats
    from harness.load.records import Record, iter_worker_records
    from harness.load.schedule import Schedule, Slot

_HOMES = {
    "LiveStats": "livestats",
    "LoadDriver": "driver",
    "Record": "records",
    "Schedule": "schedule",
    "Slot": "schedule",
    "iter_worker_records": "records",
}


__getattr__ = lazy_exports(__name__, _HOMES)


__all__ = ["LiveStats", "LoadDriver", "Record", "Schedule", "Slot", "iter_worker_records"]
