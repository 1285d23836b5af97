"""When the sidecar gives freed heap back: after its connections fell from a peak."""

from __future__ import annotations

import sys

import pytest

from mesh_runtime.sidecar.heap import HeapTrimmer, malloc_trim


def test_a_trim_follows_a_fall_from_the_peak_by_at_least_the_minimum() -> None:
    """Growth and dips under the minimum never trim; a fall by 16 from the peak does,
    once, and the next peak is counted from there."""
    trimmer = HeapTrimmer(min_drop=16, interval_s=0.0)
    counts = [10, 60, 50, 45, 44, 44, 40, 30, 80, 70, 64]
    decisions = [trimmer.should_trim(n, float(t)) for t, n in enumerate(counts)]
    assert [n for n, trim in zip(counts, decisions, strict=True) if trim] == [44, 64]
    assert trimmer.trims == 2
    small = HeapTrimmer(min_drop=16, interval_s=0.0)
    assert not any(small.should_trim(n, 0.0) for n in [30, 15, 30, 16])


def test_trims_are_spaced_by_the_interval() -> None:
    """Connections that come and go by tens every second trim once per interval, not
    once per fall."""
    trimmer = HeapTrimmer(min_drop=16, interval_s=10.0)
    decisions = [trimmer.should_trim(1000 if t % 2 else 960, float(t)) for t in range(1, 31)]
    assert [t for t, trim in enumerate(decisions, start=1) if trim] == [2, 12, 22]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_malloc_trim_is_glibcs_on_linux() -> None:
    """On this glibc machine the trim exists and runs (1: memory was released, 0: none)."""
    trim = malloc_trim()
    assert trim is not None
    assert trim() in (0, 1)
