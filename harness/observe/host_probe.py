"""`HostProbe`: the orchestrator's handle on the disturbance probe process.

`start()` runs `python -m harness.observe.probe` in a session of its own (a Ctrl-C at the
terminal reaches the orchestrator, which stops it) and waits until its table file exists.
Made without a t0, the probe starts armed and `begin(t0)` sends it t0 later: the engine
starts it before the load picks t0, so its first row is the run's first second however
long a Python process takes to start on a busy host.
`harness_pids(pids)` tells it which other processes are the harness's own (the Locust
master and workers); `stop()` ends it (SIGTERM, then SIGKILL; idempotent); `frame()` is
the probe table (`harness.observe.disturbance.ROW_COLUMNS`). The probe also ends by itself
when the orchestrator is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import pandas as pd

from harness.errors import RunError
from harness.observe.disturbance import ROW_COLUMNS
from harness.observe.probe import DEFAULT_INTERVAL_MS

READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 3.0
PROBE_FILE = "host-probe.jsonl"
_REPO_ROOT = Path(__file__).resolve().parents[2]


class HostProbe:
    """The probe process of one run, writing `<out_dir>/host-probe.jsonl`."""

    def __init__(
        self, out_dir: Path, t0: float | None = None, interval_ms: float = DEFAULT_INTERVAL_MS
    ) -> None:
        self.path = out_dir / PROBE_FILE
        self._pids_path = out_dir / "host-probe.pids.json"
        self._t0 = t0
        self._interval_ms = interval_ms
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the probe; RunError when it cannot start or is not ready in time."""
        if self._proc is not None:
            raise RunError("the host probe was already started")
        self.path.unlink(missing_ok=True)
        self.harness_pids([])
        command = [
            sys.executable,
            "-m",
            "harness.observe.probe",
            f"--out={self.path}",
            f"--t0={'-' if self._t0 is None else repr(self._t0)}",
            f"--parent={os.getpid()}",
            f"--pids-file={self._pids_path}",
            f"--interval-ms={self._interval_ms:g}",
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
        try:
            self._log = self.path.with_suffix(".log").open("ab")
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL if self._t0 is not None else subprocess.PIPE,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            self.stop()
            raise RunError(f"cannot start the host probe: {exc}") from exc
        self._await_ready()

    def _await_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.path.exists():
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()
                raise RunError(f"the host probe exited with code {code} (log: {self._log_path})")
            if time.monotonic() > deadline:
                self.stop()
                raise RunError(f"the host probe was not ready within {READY_TIMEOUT_S:g}s")
            time.sleep(0.02)

    @property
    def _log_path(self) -> Path:
        return self.path.with_suffix(".log")

    @property
    def armed(self) -> bool:
        """Started without a t0, and not yet given one."""
        return self._proc is not None and self._proc.stdin is not None

    def begin(self, t0: float) -> None:
        """Send an armed probe its t0: its rows count seconds from there."""
        if not self.armed:
            raise RunError("the host probe is not armed (started with a t0, or not started)")
        assert self._proc is not None and self._proc.stdin is not None
        stdin, self._proc.stdin = self._proc.stdin, None
        self._t0 = t0
        try:
            stdin.write(f"{t0!r}\n".encode("ascii"))
            stdin.close()
        except OSError as exc:  # it died while armed
            self.stop()
            raise RunError(f"the host probe is gone (log: {self._log_path}): {exc}") from exc

    def harness_pids(self, pids: Iterable[int]) -> None:
        """The harness's other processes (their CPU is not foreign); replaces the last list."""
        tmp = self._pids_path.with_name(self._pids_path.name + ".tmp")
        tmp.write_text(json.dumps({"pids": sorted(set(pids))}), encoding="utf-8")
        os.replace(tmp, self._pids_path)

    def stop(self) -> None:
        """End the probe (it writes the second it was in); safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # an armed probe ends at end of input
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
            with contextlib.suppress(OSError):
                if self._log_path.stat().st_size == 0:  # nothing to say: no file left
                    self._log_path.unlink()
        self._pids_path.unlink(missing_ok=True)

    def frame(self) -> pd.DataFrame:
        """The probe table, one row per second (empty when the probe wrote nothing)."""
        return read_probe_table(self.path)


def read_probe_table(path: Path) -> pd.DataFrame:
    """The rows of a probe file (a torn last line is skipped)."""
    rows = []
    with contextlib.suppress(OSError), path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.endswith("\n"):
                with contextlib.suppress(ValueError):
                    rows.append(json.loads(line))
    table = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    table = table.astype({c: "float64" for c in ROW_COLUMNS if c not in ("second", "wakeups")})
    return table.astype({"second": "int64", "wakeups": "int64"})
