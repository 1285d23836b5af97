"""When the sidecar gives freed heap back: after its connections fell from a peak."""

from __future__ import annotations

import sys

import pytest

from mesh_runtime.sidecar.heap import HeapTrimmer, malloc_trim


def test_a_trim_follows_a_fall_to_half_the_peak_by_at_least_the_minimum() -> None:
    """Growth and small dips never trim; a fall to half the peak by 64 does, once, and
    the next peak is counted from there."""
    trimmer = HeapTrimmer(min_drop=64)
    counts = [10, 200, 150, 101, 100, 100, 90, 30, 300, 180, 150]
    decisions = [trimmer.should_trim(n) for n in counts]
    assert [n for n, trim in zip(counts, decisions, strict=True) if trim] == [100, 30, 150]
    assert trimmer.trims == 3
    small = HeapTrimmer(min_drop=64)
    assert not any(small.should_trim(n) for n in [100, 40, 100, 37])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_malloc_trim_is_glibcs_on_linux() -> None:
    """On this glibc machine the trim exists and runs (1: memory was released, 0: none)."""
    trim = malloc_trim()
    assert trim is not None
    assert trim() in (0, 1)
