"""Envoy response flags joined the way Envoy prints them."""

from __future__ import annotations

from mesh_runtime.sidecar.telemetry import flags


def test_no_flag_is_a_dash() -> None:
    """No flags, or only '-', print as '-'."""
    assert flags.join_flags([]) == "-"
    assert flags.join_flags(["-", ""]) == "-"


def test_single_flag_is_itself() -> None:
    """One flag prints as itself."""
    assert flags.join_flags([flags.UPSTREAM_OVERFLOW]) == "UO"


def test_several_flags_join_in_envoy_order_without_repeats() -> None:
    """Flags are comma-joined in Envoy's table order, each once."""
    given = [flags.FAULT_INJECTED, flags.DELAY_INJECTED, "-", flags.FAULT_INJECTED]
    assert flags.join_flags(given) == "DI,FI"
    assert flags.join_flags(["URX", "UF"]) == "UF,URX"


def test_unknown_flags_are_kept_after_known_ones() -> None:
    """A flag outside the table is kept, after the known ones."""
    assert flags.join_flags(["ZZ", "UH"]) == "UH,ZZ"


def test_every_contract_flag_is_defined() -> None:
    """All flags DEVELOPING.md lists exist."""
    listed = {
        "UO",
        "UF",
        "URX",
        "UT",
        "UH",
        "DI",
        "FI",
        "NR",
        "UC",
        "RBAC",
        "DC",
        "DR",
        "SI",
        "DPE",
    }
    assert listed == flags.ALL_FLAGS


def test_a_cancelled_requests_flag_is_the_one_its_task_was_cancelled_with() -> None:
    """`task.cancel("DR")` -> DR; a cancellation with no message (a timeout scope's own)
    or with any other text -> the default."""
    assert flags.cancel_flag(BaseException("DR"), "UT") == "DR"
    assert flags.cancel_flag(BaseException(), "UT") == "UT"
    assert flags.cancel_flag(BaseException("shutting down"), "DC") == "DC"
