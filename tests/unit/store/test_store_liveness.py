"""Whether a `running` run's harness still runs: the pure decision and /proc's reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.store.liveness import Host, harness_state, run_state, seen_here, start_ticks
from harness.store.model import ExperimentRef, HarnessProcess, RunRecord

HARNESS = HarnessProcess(pid=4242, hostname="ci-7", boot_id="boot-a", start_ticks=1000)


def _record(status: str = "running", harness: HarnessProcess | None = HARNESS) -> RunRecord:
    return RunRecord(
        id="20261207T101500Z-demo",
        experiment=ExperimentRef(name="demo"),
        status=status,  # type: ignore[arg-type]
        started_at="2026-12-07T10:15:00Z",
        harness=harness,
    )


@pytest.mark.parametrize(
    ("hostname", "boot_id", "started", "expected"),
    [
        ("ci-7", "boot-a", 1000, "alive"),
        ("ci-7", "boot-a", None, "gone"),  # no process holds the pid
        ("ci-7", "boot-a", 2000, "gone"),  # the pid is another, later process's
        ("ci-7", "boot-b", 1000, "gone"),  # rebooted since: same pid and ticks mean nothing
        ("ci-7", "", 1000, "alive"),  # no boot id to compare: the start ticks decide
        ("laptop", "boot-a", None, "elsewhere"),  # another host: not checked here
    ],
)
def test_harness_state_tells_its_process_from_a_reused_pid(
    hostname: str, boot_id: str, started: int | None, expected: str
) -> None:
    """The harness is alive only on its host, in its boot, as the process that started
    when it did."""
    assert harness_state(HARNESS, hostname, boot_id, started) == expected


def test_a_record_without_its_harness_cannot_be_checked() -> None:
    """run.json written before `harness` existed, or where /proc had no start time: unknown."""
    assert harness_state(None, "ci-7", "boot-a", None) == "unknown"
    no_ticks = HARNESS.model_copy(update={"start_ticks": None})
    assert harness_state(no_ticks, "ci-7", "boot-a", None) == "unknown"


def _host(tmp_path: Path, hostname: str = "ci-7", ticks: int | None = None) -> Host:
    """This host as /proc would show it: pid 4242 started at `ticks` (None: no such pid)."""
    if ticks is not None:
        folder = tmp_path / "4242"
        folder.mkdir()
        fields = ["S"] + ["0"] * 18 + [str(ticks)] + ["0"] * 30
        (folder / "stat").write_text(f"4242 (python ) x) {' '.join(fields)}\n")
    return Host(hostname, "boot-a", tmp_path)


def test_a_run_whose_harness_is_gone_reads_aborted_saying_why(tmp_path: Path) -> None:
    """A running run with no process behind its pid is aborted, the harness named as dead."""
    state = run_state(_record(), _host(tmp_path))
    assert (state.status, state.died) == ("aborted", True)
    assert "harness (pid 4242) died" in state.note and "meshproof recover" in state.note
    seen = seen_here(_record(), _host(tmp_path))
    assert seen.status == "aborted" and seen.error == state.note
    assert seen.stopped


def test_a_live_harness_and_an_old_record_stay_running(tmp_path: Path) -> None:
    """The harness's own process, or a record without `harness`: running, nothing to say."""
    assert run_state(_record(), _host(tmp_path, ticks=1000)).status == "running"
    assert run_state(_record(harness=None), _host(tmp_path)).status == "running"
    assert run_state(_record(harness=None), _host(tmp_path)).note == ""


def test_a_run_of_another_host_stays_running_and_says_it_cannot_be_checked(
    tmp_path: Path,
) -> None:
    """A run started on host ci-7, read on a laptop: running, with why nothing is known."""
    state = run_state(_record(), _host(tmp_path, hostname="laptop"))
    assert (state.status, state.died) == ("running", False)
    assert "ci-7" in state.note and "cannot be checked from here" in state.note
    assert seen_here(_record(), _host(tmp_path, hostname="laptop")) == _record()


def test_an_ended_run_is_what_run_json_says(tmp_path: Path) -> None:
    """Only `running` is checked: a finished run's harness is gone by design."""
    for status in ("passed", "failed", "aborted", "error", "inconclusive"):
        assert run_state(_record(status), _host(tmp_path)).status == status


def test_start_ticks_reads_field_22_past_a_command_name_with_parentheses(tmp_path: Path) -> None:
    """/proc/<pid>/stat's command name may hold ') ': the start is the 22nd field after it;
    a zombie or a missing pid has none."""
    _host(tmp_path, ticks=1234)
    assert start_ticks(4242, tmp_path) == 1234
    assert start_ticks(4243, tmp_path) is None
    stat = tmp_path / "4242" / "stat"
    stat.write_text(stat.read_text().replace(") S ", ") Z "))
    assert start_ticks(4242, tmp_path) is None
