"""The load driver: Locust in processes of its own, open-loop pacing, per-request records.

    driver = LoadDriver(spec, "http://127.0.0.1:8080", work_dir, t0=None)
    t0 = driver.start()         # Locust master + spec.workers workers, users spawned;
                                # t0 given, or picked just after the workers are ready
    driver.live()               # LiveStats for a progress display
    driver.wait(timeout)        # until the schedule is done (never past the hard deadline)
    driver.stop()               # nothing left running
    driver.records_files()      # requests-w<i>.jsonl, one JSON object per request

Nothing imported here imports Locust or gevent (`locust_main` and `user` run only in the
Locust processes).
"""

from harness.load.driver import LoadDriver
from harness.load.livestats import LiveStats
from harness.load.records import COLUMNS, Record, read_records
from harness.load.schedule import Schedule, Slot

__all__ = ["COLUMNS", "LiveStats", "LoadDriver", "Record", "Schedule", "Slot", "read_records"]
