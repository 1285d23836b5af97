"""How values and verdicts read (harness.report.text)."""

from __future__ import annotations

from harness.report.text import format_value, verdict_line
from harness.store.model import Verdict


def verdict(metric: str, value: float | None, threshold: float, passed: bool) -> Verdict:
    return Verdict(
        slo=f"{metric} < {threshold:g}", metric=metric, op="<", threshold=threshold,
        phase="whole", value=value, passed=passed,
    )  # fmt: skip


def test_values_read_in_their_unit() -> None:
    """ms, %, s, MB and counts are written as an SRE reads them; None is 'no data'."""
    assert format_value("p99_ms", 312.44) == "312.4 ms"
    assert format_value("p50_ms", 2.345) == "2.35 ms"
    assert format_value("error_rate", 0.0012) == "0.12 %"
    assert format_value("recovery_s", 3.25) == "3.2 s"
    assert format_value("sidecar_rss_mb", 45.06) == "45.1 MB"
    assert format_value("ejections", 2.0) == "2"
    assert format_value("p99_ms", None) == "no data"


def test_a_failing_value_never_reads_as_its_threshold() -> None:
    """100.04 ms against < 100 shows enough digits to see why it failed."""
    line = verdict_line(verdict("p99_ms", 100.04, 100.0, False))
    assert line == "FAIL p99_ms < 100: measured 100.04 ms, threshold < 100.0 ms"
    line = verdict_line(verdict("error_rate", 0.0010004, 0.001, False))
    assert "measured 0.10004 %" in line


def test_no_data_verdict_carries_its_reason() -> None:
    """A verdict without a value says 'no data' and why, once (not '(no data: ...)')."""
    v = verdict("shed_p99_ms", None, 100.0, False).model_copy(update={"reason": "no data: no 503"})
    assert (
        verdict_line(v) == "FAIL shed_p99_ms < 100: measured no data, threshold < 100.0 ms (no 503)"
    )
