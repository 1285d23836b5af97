"""The pods/exec protocol's messages decoded (channel byte, then bytes; the outcome a
Status on channel 3), and the exec URL's query built as kubectl builds it."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

from mesh_runtime.kube.podexec import decode, exec_path, outcome


def status(**fields: object) -> bytes:
    return b"\x03" + json.dumps(fields).encode()


def test_stdout_and_stderr_are_joined_per_channel_in_order() -> None:
    """Channel 1 is stdout and 2 stderr, each possibly split over messages; empty opening
    messages (a channel byte alone, as v4 servers send) and channel 255 are ignored."""
    opening = [b"\x01", b"\x02"]
    output = [b"\x01self 34\n", b"\x02grep: gone\n", b"\x01/proc/1/stat:1", b"\xff\x00"]
    result = decode([*opening, *output, status(status="Success")])
    assert result.stdout == "self 34\n/proc/1/stat:1"
    assert result.stderr == "grep: gone\n"
    assert (result.exit_code, result.error) == (0, "")


def test_a_non_zero_exit_code_is_read_from_the_status_causes() -> None:
    """`NonZeroExitCode` carries the code as the message of its ExitCode cause."""
    failed = status(
        status="Failure",
        reason="NonZeroExitCode",
        message="command terminated with non-zero exit code: error executing command [false]",
        details={"causes": [{"reason": "ExitCode", "message": "2"}]},
    )
    assert decode([failed]).exit_code == 2
    assert decode([failed]).error == ""


def test_a_command_that_could_not_run_is_an_error_without_a_code() -> None:
    """No such executable: the Status message, on one line, and no exit code."""
    code, error = outcome(
        json.dumps(
            {"status": "Failure", "reason": "InternalError", "message": 'exec: "nope":\n not found'}
        ).encode()
    )
    assert code is None
    assert error == 'exec: "nope": not found'


def test_no_status_at_all_is_no_code_and_no_error() -> None:
    """A connection closed before the status: nothing is claimed about the command."""
    assert outcome(b"") == (None, "")
    assert outcome(b"not json")[0] is None


def test_the_exec_path_names_the_container_and_each_argument() -> None:
    """One `command` parameter per argument, stdout and stderr asked for, no stdin/tty."""
    path = exec_path("shop ns", "catalog-0-x", "sidecar", ["/bin/sh", "-c", 'kill -s STOP "$@"'])
    parts = urlsplit(path)
    assert parts.path == "/api/v1/namespaces/shop%20ns/pods/catalog-0-x/exec"
    assert parse_qsl(parts.query) == [
        ("container", "sidecar"),
        ("stdout", "true"),
        ("stderr", "true"),
        ("command", "/bin/sh"),
        ("command", "-c"),
        ("command", 'kill -s STOP "$@"'),
    ]
