"""Bad input at a sample service's HTTP API and at the kv store's raw TCP port, on real
processes: a clear answer each time, no traceback, and the connection or service goes on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import requests

from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.services.kv import MAX_LINE
from tests.conftest import answers_200, half_closed_exchange, poll, stop_group

pytestmark = pytest.mark.integration


@dataclass
class Running:
    url: str
    """The leaf shop service's base URL."""
    kv_port: int
    logs: list[Path]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("bad-input")
    app, kv = fresh_port(), fresh_port()
    commands = {
        "cart-0": ["mesh_runtime.services", "--service", "cart", "--instance", "cart-0"],
        "kv-0": ["mesh_runtime.services.kv", "--instance", "kv-0"],
    }
    ports = {"cart-0": app, "kv-0": kv}
    processes = []
    try:
        for name, command in commands.items():
            with (work / f"{name}.log").open("wb") as log:
                argv = [sys.executable, "-m", *command, "--port", str(ports[name])]
                process = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            processes.append(process)
            url = f"http://127.0.0.1:{ports[name]}/_health"
            poll(partial(answers_200, url, process), 15, 0.05, f"{name} ready")
        yield Running(f"http://127.0.0.1:{app}", kv, [work / f"{n}.log" for n in commands])
    finally:
        for process in processes:
            stop_group(process)


@pytest.fixture(autouse=True)
def no_traceback(running: Running) -> Iterator[None]:
    yield
    for log in running.logs:
        assert "Traceback" not in log.read_text(errors="replace"), log.name


def test_json_nested_too_deep_is_a_400(running: Running) -> None:
    """A behaviour body nested deeper than the JSON parser recurses is 400 'not valid
    JSON' (it was a RecursionError: 500 and a traceback); the behaviour is unchanged."""
    before = requests.get(f"{running.url}/_behaviour", timeout=5).json()
    for body in (b"[" * 100_000, b'{"latency":' * 50_000 + b"1" + b"}" * 50_000):
        response = requests.put(f"{running.url}/_behaviour", data=body, timeout=5)
        assert response.status_code == 400
        assert response.json()["error"].startswith("not valid JSON: ")
    assert requests.get(f"{running.url}/_behaviour", timeout=5).json() == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"hang": "yes"}', 'hang: expected true or false, not the string "yes"'),
        (b'{"error_rate": "0.5"}', 'error_rate: expected a number, not the string "0.5"'),
        (b'{"error_rate": NaN}', "error_rate: expected a finite number, not NaN"),
        (b'{"latency": {"mean_ms": Infinity}}', "latency.mean_ms: expected a finite number"),
    ],
)
def test_a_behaviour_value_of_the_wrong_json_type_is_a_400(
    running: Running, body: bytes, message: str
) -> None:
    """A string where a boolean or a number goes, NaN or Infinity: 400 with the field and
    why, and the behaviour stays as it was (they were coerced and applied: a hang)."""
    before = requests.get(f"{running.url}/_behaviour", timeout=5).json()
    response = requests.put(f"{running.url}/_behaviour", data=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert requests.get(f"{running.url}/_behaviour", timeout=5).json() == before
    assert requests.get(f"{running.url}/shop", timeout=5).status_code == 200


def test_a_lognormal_latency_with_a_tiny_mean_still_answers(running: Running) -> None:
    """mean 1e-200 ms, stddev 600 s is a valid lognormal: requests are answered 200 (its
    sampling overflowed: every request was a 500)."""
    change = {"latency": {"distribution": "lognormal", "mean_ms": 1e-200, "stddev_ms": 6e5}}
    assert requests.put(f"{running.url}/_behaviour", json=change, timeout=5).status_code == 200
    try:
        for _ in range(3):
            assert requests.get(f"{running.url}/shop", timeout=5).status_code == 200
    finally:
        reset = {"latency": {"distribution": "fixed", "mean_ms": 0, "stddev_ms": 0}}
        requests.put(f"{running.url}/_behaviour", json=reset, timeout=5).raise_for_status()


@pytest.mark.parametrize("newline", [b"\n", b""])
def test_a_line_over_the_limit_is_an_error_line_and_the_connection_goes_on(
    running: Running, newline: bytes
) -> None:
    """A line longer than MAX_LINE gets one ERROR line in order, the commands around it
    their replies, and the connection ends in order (it was closed at once with the
    client's bytes unread: a reset that lost the replies)."""
    long_line = b"SET big " + b"x" * (MAX_LINE + 1024) + newline
    tail = b"GET a\nPING\n" if newline else b""
    reply = half_closed_exchange(f"127.0.0.1:{running.kv_port}", b"SET a 1\n" + long_line + tail)
    lines = reply.decode().splitlines()
    expected = ["OK", f"ERROR line longer than {MAX_LINE} bytes"]
    assert lines == ([*expected, "VALUE 1", "PONG kv-0"] if newline else expected)
