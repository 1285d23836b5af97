"""Durations and percentages as files write them."""

import argparse

import pytest

from mesh_runtime.quantities import positive_seconds
from mesh_runtime.units import format_duration, parse_duration, parse_percentage


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("250ms", 0.25), ("2m", 120.0), ("1h", 3600.0), ("1.5s", 1.5), (3, 3.0)],
)
def test_parse_duration_accepts_units(text: object, seconds: float) -> None:
    """Each unit suffix converts to seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["30", "abc", "-1s", "1d", True, -2, None])
def test_parse_duration_rejects_with_example(bad: object) -> None:
    """A bad duration names the expected form."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_parse_duration_rejects_what_yaml_reads_from_inf_and_nan(bad: float) -> None:
    """YAML's `.inf` and `.nan` are floats: neither is a duration, never 'infs' or 'nans'."""
    with pytest.raises(ValueError, match="expected a finite duration"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", ["99999999999999999999h", "8761h", 1e20, 31_536_001])
def test_parse_duration_refuses_more_than_a_year(bad: object) -> None:
    """A finite duration past a year is a slip that would overflow a timer later: refused
    here, naming the bound; a year itself is taken."""
    with pytest.raises(ValueError, match="at most a year"):
        parse_duration(bad)
    assert parse_duration("8760h") == 365 * 24 * 3600.0


def test_format_duration_round_trips() -> None:
    """Formatting picks the shortest exact unit and parses back to the same value."""
    for seconds in (0.25, 1.0, 30.0, 0.001, 1.5):
        assert parse_duration(format_duration(seconds)) == seconds
    assert format_duration(0.25) == "250ms"
    assert format_duration(0) == "0s"  # Istio's way to write 'disabled' (idleTimeout: 0s)
    assert format_duration(30) == "30s"


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "-inf", "5s", ""])
def test_positive_seconds_refuses_what_no_timer_can_take(bad: str) -> None:
    """A command-line timeout or idle time (kv --idle-timeout, target check --timeout) is a
    finite number of seconds above 0: anything else is a usage error naming what was given."""
    with pytest.raises(argparse.ArgumentTypeError, match="finite number of seconds above 0"):
        positive_seconds(bad)
    assert positive_seconds("0.25") == 0.25
    assert positive_seconds(" 75 ") == 75.0


def test_percentage_forms() -> None:
    """Numbers, '12.5%' and Istio's {value: n} are all percentages; out of range is an error."""
    assert parse_percentage(12.5) == 12.5
    assert parse_percentage("12.5%") == 12.5
    assert parse_percentage({"value": 30}) == 30.0
    with pytest.raises(ValueError, match="between 0 and 100"):
        parse_percentage(120)


def test_significant_digits_never_print_a_large_value_in_exponent_form() -> None:
    """'2.52e+03 ms' was what a reader of a disturbance allowance or a compare table got."""
    from mesh_runtime.quantities import significant

    assert significant(2520.4) == "2520"
    assert significant(1425.0, sign=True) == "+1425"
    assert significant(-86.12, sign=True) == "-86.1"
    assert significant(12.345) == "12.3"
    assert significant(0.0421) == "0.0421"
    assert significant(999.4) == "999"
    assert significant(999.6) == "1000"  # rounds up into the next power of ten
    assert significant(12.3, 2) == "12"
    assert significant(150.0, 2) == "150"
    assert significant(float("nan")) == "nan"
