"""The per-request kernel counts bench: perf's CSV read into counts, and its table."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench.syscalls import (
    FILTERED,
    Counted,
    parse_perf_stat,
    perf_command,
    table,
)

PERF_CSV = """# started on Sat Dec  5 20:31:40 2026

4257,,raw_syscalls:sys_enter,8002619,100.00,,
0,,syscalls:sys_enter_readv,8002619,100.00,,
2009,,syscalls:sys_enter_read,8002619,100.00,,
2009,,syscalls:sys_enter_write,8002619,100.00,,
203,,syscalls:sys_enter_epoll_pwait,8002619,100.00,,
<not counted>,,syscalls:sys_enter_epoll_pwait2,0,100.00,,
261,,context-switches,8002619,100.00,,
0,,syscalls:sys_exit_read,8002619,100.00,,
0,,syscalls:sys_exit_recvfrom,8002619,100.00,,
0,,syscalls:sys_exit_epoll_wait,8002619,100.00,,
12,,syscalls:sys_exit_epoll_pwait,8002619,100.00,,
0,,syscalls:sys_exit_epoll_wait,8002619,100.00,,
161,,syscalls:sys_exit_epoll_pwait,8002619,100.00,,
"""


def test_counts_are_named_by_system_call_and_filtered_returns_by_their_label() -> None:
    """Enter tracepoints count under the call's name, all of them under 'all', and each
    filtered return under its label, in the order the command gave them: the second
    epoll_pwait return is the '>1 events' one, not the empty one. Zero and uncounted
    events are left out."""
    counts = parse_perf_stat(PERF_CSV)
    assert counts == {
        "all": 4257,
        "read": 2009,
        "write": 2009,
        "epoll_pwait": 203,
        "context-switches": 261,
        "epoll_pwait 0 events": 12,
        "epoll_pwait >1 events": 161,
    }


def test_a_return_out_of_the_commands_order_is_refused() -> None:
    """perf listing the filtered returns in another order than asked would label them
    wrongly: refused rather than guessed."""
    with pytest.raises(ValueError, match="sys_exit_read"):
        parse_perf_stat("5,,syscalls:sys_exit_epoll_pwait,1,100.00,,\n")


def test_the_command_filters_each_return_after_its_event() -> None:
    """Each `--filter` follows the tracepoint it applies to (perf binds it to the last
    -e), and every thread of the process is counted (`-p`)."""
    command = perf_command("perf", 42, Path("out.csv"))
    assert command[:7] == ["perf", "stat", "-x,", "-o", "out.csv", "-p", "42"]
    for _, event, condition in FILTERED:
        at = [i for i, arg in enumerate(command) if arg == condition]
        assert any(command[i - 1] == "--filter" and command[i - 2] == event for i in at)


def test_the_table_sums_kinds_per_proxy_per_request() -> None:
    """A row sums its kinds (reads: read + recvfrom), a column per proxy role."""
    counted = Counted(
        "mesh",
        1000.0,
        1000,
        {
            "sidecar-server": {"read": 2.0, "write": 2.0, "user_us": 50.4},
            "sidecar-client": {"recvfrom": 1.5, "read": 0.5, "getpid": 0.04},
        },
    )
    lines = table([counted]).splitlines()
    assert lines[0].split() == ["per", "request", "sidecar-server", "sidecar-client"]
    rows = {line[:20].strip(): line[20:].split() for line in lines[1:]}
    assert rows["reads"] == ["2.000", "2.000"]
    assert rows["getpid"] == ["0.000", "0.040"]
    assert rows["user CPU us"] == ["50", "0"]
