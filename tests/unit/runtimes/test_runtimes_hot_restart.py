"""The pure parts of a hot restart: who answered ready, and the tcp_migrate_req warning."""

from __future__ import annotations

import os
from pathlib import Path

from mesh_runtime.runtimes.hot_restart import (
    answered_by,
    migrate_req_warning,
    process_family,
    read_migrate_req,
)


def test_ready_answer_from_the_new_pid_counts() -> None:
    """A ready answer naming the new process's pid means the new process is ready."""
    me = os.getpid()
    assert answered_by(me, "http://x/ready", ask=lambda url: me)


def test_ready_answer_from_the_old_pid_or_none_does_not_count() -> None:
    """An answer from another process (the old one, still listening) or no answer is not it."""
    me = os.getpid()
    assert not answered_by(me, "http://x/ready", ask=lambda url: 1)
    assert not answered_by(me, "http://x/ready", ask=lambda url: None)


def test_process_family_of_a_gone_pid_is_just_that_pid() -> None:
    """A pid with no live process has no descendants to look at."""
    assert process_family(2**22 + 12345) == {2**22 + 12345}


def test_no_warning_when_migrate_req_is_on() -> None:
    """tcp_migrate_req = 1 needs no warning."""
    assert migrate_req_warning("1\n") is None


def test_one_line_warning_when_migrate_req_is_off_or_missing() -> None:
    """Off, or a kernel without the setting: one line that names the sysctl and the fix."""
    for value, shown in (("0\n", "is 0"), (None, "not available")):
        warning = migrate_req_warning(value)
        assert warning is not None and "\n" not in warning
        assert shown in warning and "sysctl -w net.ipv4.tcp_migrate_req=1" in warning


def test_read_migrate_req_reads_the_file_or_gives_none(tmp_path: Path) -> None:
    """The sysctl's text is read as is; a missing file is None."""
    path = tmp_path / "tcp_migrate_req"
    path.write_text("1\n")
    assert read_migrate_req(path) == "1\n"
    assert read_migrate_req(tmp_path / "missing") is None
