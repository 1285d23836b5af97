"""Recent load figures for a progress display: rate, error rate, p99, counts.

Each worker keeps completions of the last few whole seconds in small log-bucketed
histograms (buckets 2 % wide, so a percentile read from them is at most 2 % high) and
writes a snapshot to its status file each second; the driver merges the snapshots of all
workers into one `LiveStats`. These figures are for watching a run; the analysis works on
the per-request records.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from harness.load.records import is_failure
from harness.spec.load import FELL_BEHIND_LAG_MS, LATE_BOUND_MS

_FLOOR_MS = 0.01
_GROWTH = 1.02
_INV_LOG_GROWTH = 1.0 / math.log(_GROWTH)


def bucket_of(ms: float) -> int:
    """The histogram bucket of a latency: bucket `b` holds values up to 0.01 * 1.02**b ms."""
    if ms <= _FLOOR_MS:
        return 0
    return math.ceil(math.log(ms / _FLOOR_MS) * _INV_LOG_GROWTH - 1e-9)


def bucket_upper_ms(bucket: int) -> float:
    return _FLOOR_MS * _GROWTH**bucket


def quantile_ms(hist: dict[int, int], q: float) -> float:
    """The `q` quantile (0-1) of a histogram, as its bucket's upper edge; 0 when empty."""
    total = sum(hist.values())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return bucket_upper_ms(bucket)
    return bucket_upper_ms(max(hist))


def merge_hists(hists: list[dict[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for hist in hists:
        for bucket, count in hist.items():
            merged[bucket] = merged.get(bucket, 0) + count
    return merged


@dataclass
class _Second:
    second: int
    count: int = 0
    failed: int = 0
    latency: dict[int, int] = field(default_factory=dict)
    corrected: dict[int, int] = field(default_factory=dict)


class WindowStats:
    """A worker's counts, and the completions of its last `window_s` whole seconds."""

    def __init__(self, window_s: int = 3) -> None:
        self.window_s = window_s
        self.sent = 0
        self.completed = 0
        self.failed = 0
        self.late = 0
        """Requests sent more than `LATE_BOUND_MS` after their intended time."""
        self._seconds: deque[_Second] = deque()
        self._lags: deque[tuple[int, float]] = deque()
        """(second sent, largest send lag in ms of that second), the last few seconds."""

    def record_send(self, lag_ms: float = 0.0, sent_s: float = 0.0) -> None:
        self.sent += 1
        if lag_ms <= LATE_BOUND_MS:
            return
        self.late += 1
        second = math.floor(sent_s)
        if self._lags and self._lags[-1][0] == second:
            if lag_ms > self._lags[-1][1]:
                self._lags[-1] = (second, lag_ms)
            return
        self._lags.append((second, lag_ms))
        while len(self._lags) > self.window_s + 2:
            self._lags.popleft()

    def record_done(
        self, done_s: float, latency_ms: float, corrected_ms: float, status: int
    ) -> None:
        second = math.floor(done_s)
        if not self._seconds or self._seconds[-1].second != second:
            self._seconds.append(_Second(second))
            while len(self._seconds) > self.window_s + 2:
                self._seconds.popleft()
        slot = self._seconds[-1]
        slot.count += 1
        self.completed += 1
        if is_failure(status):
            slot.failed += 1
            self.failed += 1
        b = bucket_of(latency_ms)
        slot.latency[b] = slot.latency.get(b, 0) + 1
        b = bucket_of(corrected_ms)
        slot.corrected[b] = slot.corrected.get(b, 0) + 1

    def snapshot(self, now_s: float) -> dict[str, Any]:
        """JSON-ready counts, plus the whole seconds `[now - window, now)` merged."""
        current = math.floor(now_s)
        recent = [s for s in self._seconds if current - self.window_s <= s.second < current]
        lags = [lag for second, lag in self._lags if current - self.window_s <= second <= current]
        return {
            "sent": self.sent,
            "late": self.late,
            "max_lag_ms": max(lags, default=0.0),
            "completed": self.completed,
            "failed": self.failed,
            "window_s": self.window_s,
            "window_count": sum(s.count for s in recent),
            "window_failed": sum(s.failed for s in recent),
            "latency_hist": merge_hists([s.latency for s in recent]),
            "corrected_hist": merge_hists([s.corrected for s in recent]),
        }


@dataclass(frozen=True)
class LiveStats:
    """Recent figures of the whole load (all workers), for a progress display."""

    rps: float = 0.0
    error_rate: float = 0.0
    p99_ms: float = 0.0
    window_s: int = 0
    """The whole seconds just past that rps, error_rate and p99_ms cover (0: none yet)."""
    sent: int = 0
    failed: int = 0
    corrected_p99_ms: float = 0.0
    completed: int = 0
    unsent: int = 0
    """Requests of the schedule never sent: no connection was free before its end."""
    workers_done: int = 0
    workers_lost: int = 0
    """Workers the master found gone before their share was done (their share unsent)."""
    stale_retries: int = 0
    """Requests sent again on a new connection: their keep-alive one was closed by the peer."""
    late: int = 0
    """Requests sent more than `LATE_BOUND_MS` after their intended time, so far."""
    max_lag_ms: float = 0.0
    """The largest send lag of the last few seconds (0 when nothing left late)."""
    connections: int = 0
    """Connections open now, all workers (the load opens more when requests fall due)."""
    peak_connections: int = 0
    """The most connections the workers had open at once (summed over workers)."""
    closed_idle: int = 0
    """Connections closed because the load no longer needed them (`load.idle_timeout`)."""
    target_rps: float = 0.0
    """The schedule's intended rate now (set by the driver, which knows the schedule)."""

    @property
    def behind(self) -> bool:
        """Requests are leaving late right now, by more than a phase that fell behind
        (`FELL_BEHIND_LAG_MS`): sends 10-20 ms late are the host's scheduling jitter."""
        return self.max_lag_ms > FELL_BEHIND_LAG_MS


def _hist(raw: Any) -> dict[int, int]:
    return {int(k): int(v) for k, v in (raw or {}).items()}


def merge_snapshots(snapshots: list[dict[str, Any]]) -> LiveStats:
    """One `LiveStats` from the status snapshots of every worker."""
    if not snapshots:
        return LiveStats()
    window_s = max(int(s.get("window_s", 1)) for s in snapshots) or 1
    count = sum(int(s.get("window_count", 0)) for s in snapshots)
    failed_recent = sum(int(s.get("window_failed", 0)) for s in snapshots)
    latency = merge_hists([_hist(s.get("latency_hist")) for s in snapshots])
    corrected = merge_hists([_hist(s.get("corrected_hist")) for s in snapshots])
    return LiveStats(
        rps=count / window_s,
        error_rate=failed_recent / count if count else 0.0,
        p99_ms=quantile_ms(latency, 0.99),
        window_s=window_s,
        sent=sum(int(s.get("sent", 0)) for s in snapshots),
        failed=sum(int(s.get("failed", 0)) for s in snapshots),
        corrected_p99_ms=quantile_ms(corrected, 0.99),
        completed=sum(int(s.get("completed", 0)) for s in snapshots),
        unsent=sum(int(s.get("unsent", 0)) for s in snapshots),
        workers_done=sum(1 for s in snapshots if s.get("done")),
        stale_retries=sum(int(s.get("stale_retries", 0)) for s in snapshots),
        late=sum(int(s.get("late", 0)) for s in snapshots),
        max_lag_ms=max(float(s.get("max_lag_ms", 0.0)) for s in snapshots),
        connections=sum(int(s.get("connections", 0)) for s in snapshots),
        peak_connections=sum(int(s.get("peak_connections", 0)) for s in snapshots),
        closed_idle=sum(int(s.get("closed_idle", 0)) for s in snapshots),
    )
