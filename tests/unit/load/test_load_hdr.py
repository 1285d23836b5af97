"""A worker's per-second HDR histograms and their log lines (no Locust needed)."""

from __future__ import annotations

import random
from pathlib import Path

from hdrh.histogram import HdrHistogram

from harness.analysis.hdr import parse_log_line, read_histogram_logs
from harness.load.hdr import HIGHEST_US, SecondHistograms, log_line, new_histogram, to_us
from harness.load.transport import Batcher, MasterFiles


def test_values_are_whole_microseconds_within_the_range() -> None:
    """ms -> us rounded; negative is 0, beyond an hour is the range's top."""
    assert to_us(1.2345) == 1235
    assert to_us(-1.0) == 0
    assert to_us(10_000_000.0) == HIGHEST_US


def test_a_flush_writes_each_touched_second_once_per_tag_and_forgets_it() -> None:
    """Requests keyed by intended second; a second flush writes only what came after."""
    histograms = SecondHistograms()
    histograms.record(3.9, 10.0, 12.0)
    histograms.record(3.1, 20.0, 20.0)
    histograms.record(4.0, 5.0, 7.0)
    lines: list[str] = []
    assert histograms.flush(lines.append) == 2
    assert [parse_log_line(line)[:2] for line in lines] == [
        ("latency", 3),
        ("corrected", 3),
        ("latency", 4),
        ("corrected", 4),
    ]
    second_3 = HdrHistogram.decode(parse_log_line(lines[0])[2])
    assert second_3.get_total_count() == 2
    assert second_3.get_max_value() == second_3.get_highest_equivalent_value(20_000)
    assert histograms.flush(lines.append) == 0


def test_a_log_file_reads_back_by_tag_and_second_across_flushes(tmp_path: Path) -> None:
    """Two flushes of the same second, shipped in two batches, are two payloads of that
    second in the master's file; its header is written once."""
    histograms, batcher = SecondHistograms(), Batcher(0)
    files = MasterFiles(tmp_path)
    histograms.record(1.5, 3.0, 3.0)
    histograms.flush(batcher.add_hdr)
    files.receive("w", batcher.take(None), 1.0)
    histograms.record(1.7, 4.0, 9.0)
    histograms.flush(batcher.add_hdr)
    files.receive("w", batcher.take(None), 2.0)
    text = (tmp_path / "latency-w0.hlog").read_text()
    assert text.startswith("#[Histogram log format version 1.3]")
    assert text.count("#[Histogram log format") == 1
    found = read_histogram_logs([tmp_path / "latency-w0.hlog"])
    assert sorted(found) == ["corrected", "latency"]
    assert len(found["latency"][1]) == 2


def test_counted_by_bucket_the_lines_are_those_of_every_value_recorded() -> None:
    """Counting values by bucket and recording the counts at the flush gives the very log
    lines (histogram, interval max) that recording each value into the histogram does:
    bucket edges, exact values below 2048 us, the range's top."""
    rng = random.Random(7)
    values_ms = [0.0, 0.001, 2.047, 2.048, 2.049, 4.095, 4.096, 65.537, 3_600_000.0]
    values_ms += [rng.lognormvariate(0.5, 1.5) for _ in range(20_000)]
    histograms = SecondHistograms()
    direct = (new_histogram(), new_histogram())
    for ms in values_ms:
        histograms.record(5.5, ms, ms * 1.5)
        direct[0].record_value(to_us(ms))
        direct[1].record_value(to_us(ms * 1.5))
    lines: list[str] = []
    histograms.flush(lines.append)
    assert lines == [log_line("latency", 5, direct[0]), log_line("corrected", 5, direct[1])]
