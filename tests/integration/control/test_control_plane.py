"""The control plane process: long poll, auth, validation, sidecar status, the client."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from mesh_runtime.control.build import build_mesh_config
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.errors import ControlPlaneError
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.topology import load_topology
from tests.conftest import stop_group

SHOP = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop.yaml"
TOKEN = "test-token-0123456789"
CONTROL = [sys.executable, "-m", "mesh_runtime.control"]

pytestmark = pytest.mark.integration


@dataclass
class ControlPlane:
    url: str
    token: str
    process: subprocess.Popen[bytes]


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"control plane exited with {process.returncode}")
        try:
            if requests.get(url, timeout=0.5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"control plane not ready at {url} within {timeout}s")


class Launcher:
    """Starts control plane processes on the shop config; stops them all at the end."""

    def __init__(self, work: Path) -> None:
        topology = load_topology(SHOP)
        inbound = {i.name: f"127.0.0.1:{23000 + n}" for n, i in enumerate(topology.instances())}
        self.config_file = work / "config.json"
        self.config_file.write_text(build_mesh_config(topology, inbound, {}).model_dump_json())
        self.token_file = work / "token"
        self.token_file.write_text(TOKEN + "\n")
        self.work = work
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self, *extra: str, port: int | None = None) -> ControlPlane:
        port = port or fresh_port()
        command = [*CONTROL, "--config", str(self.config_file), "--port", str(port)]
        command += ["--token-file", str(self.token_file), *extra]
        with (self.work / f"control-{len(self._processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._processes.append(process)
        url = f"http://127.0.0.1:{port}"
        _wait_ready(f"{url}/ready", process)
        return ControlPlane(url=url, token=TOKEN, process=process)

    def stop_all(self) -> None:
        for process in self._processes:
            stop_group(process)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture
def control_plane(launcher: Launcher) -> ControlPlane:
    return launcher.start()


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_long_poll_waiter_gets_new_version_within_a_second_of_a_patch(
    control_plane: ControlPlane,
) -> None:
    """Several waiters parked on the current version all receive the patched config fast."""
    url = control_plane.url
    current = requests.get(f"{url}/v1/config", timeout=5).json()["version"]
    results: list[tuple[float, int, int]] = []

    def wait(index: int) -> None:
        response = requests.get(
            f"{url}/v1/config",
            params={"version": current, "wait": 20, "sidecar": f"cart-{index}"},
            timeout=30,
        )
        version = response.json()["version"] if response.status_code == 200 else -1
        results.append((time.monotonic(), response.status_code, version))

    waiters = [threading.Thread(target=wait, args=(i,)) for i in range(5)]
    for waiter in waiters:
        waiter.start()
    # a poll records its sidecar and parks on the change event in the same loop step
    _wait_until(lambda: len(_status(url)["sidecars"]) == 5)
    patched_at = time.monotonic()
    patch = {"http": [{"timeout": "2s"}]}
    response = requests.patch(
        f"{url}/v1/services/cart/policy", json=patch, headers=_auth(), timeout=5
    )
    assert response.status_code == 200
    for waiter in waiters:
        waiter.join(timeout=10)
    assert len(results) == 5
    for answered_at, status, version in results:
        assert status == 200 and version == current + 1
        assert answered_at - patched_at < 1.0


def test_long_poll_answers_304_after_the_wait(control_plane: ControlPlane) -> None:
    """With no change the poll answers 304 after about `wait` seconds."""
    version = requests.get(f"{control_plane.url}/v1/config", timeout=5).json()["version"]
    started = time.monotonic()
    response = requests.get(
        f"{control_plane.url}/v1/config", params={"version": version, "wait": 0.5}, timeout=5
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 304
    assert 0.4 < elapsed < 2.0


def test_writes_without_the_token_are_401_and_change_nothing(control_plane: ControlPlane) -> None:
    """No token, a wrong token, or a wrong scheme: 401 and the version stays."""
    url = f"{control_plane.url}/v1/services/cart/policy"
    for headers in ({}, _auth("wrong"), {"Authorization": f"Basic {TOKEN}"}):
        assert requests.patch(url, json={}, headers=headers, timeout=5).status_code == 401
        assert requests.put(url, json={}, headers=headers, timeout=5).status_code == 401
    put_config = requests.put(f"{control_plane.url}/v1/config", json={}, timeout=5)
    assert put_config.status_code == 401
    assert requests.get(f"{control_plane.url}/v1/config", timeout=5).json()["version"] == 1


def test_bad_policy_is_400_with_field_path_and_config_unchanged(
    control_plane: ControlPlane,
) -> None:
    """An invalid policy names the field; bad JSON is 400; unknown service is 404."""
    url = control_plane.url
    before = requests.get(f"{url}/v1/config", timeout=5).json()
    bad = {"http": [{"retries": {"retryOn": "5xx,sometimes"}}]}
    response = requests.patch(
        f"{url}/v1/services/catalog/policy", json=bad, headers=_auth(), timeout=5
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("http[0].retries.retryOn: unknown retryOn")
    response = requests.put(
        f"{url}/v1/services/catalog/policy", data=b"{not json", headers=_auth(), timeout=5
    )
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    response = requests.patch(
        f"{url}/v1/services/payments/policy", json={}, headers=_auth(), timeout=5
    )
    assert response.status_code == 404
    assert requests.get(f"{url}/v1/config", timeout=5).json() == before


def test_a_config_whose_service_key_and_name_differ_is_400_and_changes_nothing(
    control_plane: ControlPlane,
) -> None:
    """A sidecar routes by a service's key and names it by `name`: a PUT where the two
    differ would split one service in two, so it is refused whole."""
    url = control_plane.url
    before = requests.get(f"{url}/v1/config", timeout=5).json()
    bad = {**before, "services": {**before["services"], "catalog": {"name": "other"}}}
    response = requests.put(f"{url}/v1/config", json=bad, headers=_auth(), timeout=5)
    assert response.status_code == 400
    assert "the entry under 'catalog' is named 'other'" in response.json()["error"]
    assert requests.get(f"{url}/v1/config", timeout=5).json() == before


def test_status_reflects_the_versions_sidecars_reported(control_plane: ControlPlane) -> None:
    """Each sidecar's poll records its version; the client waits for all to catch up."""
    client = ControlPlaneClient(control_plane.url, control_plane.token)
    for sidecar in ("catalog-0", "catalog-1"):
        requests.get(
            f"{control_plane.url}/v1/config",
            params={"version": 0, "sidecar": sidecar},
            timeout=5,
        )
    status = client.status()
    assert status["version"] == 1
    assert {k: v["version"] for k, v in status["sidecars"].items()} == {
        "catalog-0": 0,
        "catalog-1": 0,
    }
    assert all(v["seen"] > time.time() - 60 for v in status["sidecars"].values())
    new_version = client.patch_policy("catalog", {"http": [{"timeout": "3s"}]})
    assert new_version == 2
    with pytest.raises(ControlPlaneError, match=r"catalog-1 \(at 0\)"):
        client.wait_for_version(2, ["catalog-0", "catalog-1"], timeout=0.3)
    for sidecar in ("catalog-0", "catalog-1"):
        requests.get(
            f"{control_plane.url}/v1/config",
            params={"version": "2", "wait": "0.01", "sidecar": sidecar},
            timeout=5,
        )
    status = client.wait_for_version(2, ["catalog-0", "catalog-1"], timeout=5)
    assert status["sidecars"]["catalog-1"]["version"] == 2


def test_client_round_trips_and_translates_errors(control_plane: ControlPlane) -> None:
    """The client reads, puts and patches; refusals and outages are ControlPlaneErrors."""
    client = ControlPlaneClient(control_plane.url, control_plane.token)
    assert client.ready()
    config = client.config()
    policy = config.services["cart"].policy.model_copy(update={"http": []})
    assert client.put_policy("cart", policy) == config.version + 1
    assert client.config().services["cart"].policy.http == []
    assert client.put_config(config) == config.version + 2
    assert client.config().services["cart"].policy == config.services["cart"].policy
    with pytest.raises(ControlPlaneError, match="400 http"):
        client.patch_policy("cart", {"http": [{"timeout": "soon"}]})
    with pytest.raises(ControlPlaneError, match="401 unauthorised"):
        ControlPlaneClient(control_plane.url, "wrong").patch_policy("cart", {})
    closed = ControlPlaneClient("http://127.0.0.1:1", "x", timeout=1)
    assert not closed.ready()
    with pytest.raises(ControlPlaneError, match="unreachable"):
        closed.status()


def test_a_read_edit_write_of_the_config_keeps_the_mesh_scoped(control_plane: ControlPlane) -> None:
    """A reader that is no sidecar gets the egress lists (what PUT takes back), so a read,
    edit and write keeps each sidecar's scope: a change to cart then wakes cart's and
    frontend's sidecars, not catalog's. A sidecar's body leaves the lists out."""
    client = ControlPlaneClient(control_plane.url, control_plane.token)
    config = client.config()
    assert config.services["frontend"].egress == ["cart", "catalog"]
    as_sidecar = requests.get(
        f"{control_plane.url}/v1/config", params={"sidecar": "frontend-0"}, timeout=5
    ).json()
    assert "egress" not in as_sidecar["services"]["frontend"]
    version = client.put_config(config)
    assert client.config().services["frontend"].egress == ["cart", "catalog"]
    for instance, service in (("catalog-0", "catalog"), ("cart-0", "cart")):
        requests.get(
            f"{control_plane.url}/v1/config",
            params={"version": version, "sidecar": instance, "service": service},
            timeout=5,
        )
    changed = client.patch_policy("cart", {"http": [{"timeout": "4s"}]})
    wait = {"version": version, "wait": "0.3", "sidecar": "catalog-0", "service": "catalog"}
    catalog = requests.get(f"{control_plane.url}/v1/config", params=wait, timeout=5)
    wait.update(sidecar="cart-0", service="cart")
    cart = requests.get(f"{control_plane.url}/v1/config", params=wait, timeout=5)
    assert (catalog.status_code, cart.status_code) == (304, 200)
    assert cart.json()["version"] == changed


def test_bad_config_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A config file that does not validate ends the process with one line and code 2."""
    config = tmp_path / "config.json"
    config.write_text('{"services": {"x": {"endpoints": [{"instance": 3}]}}}')
    token = tmp_path / "token"
    token.write_text("t")
    result = subprocess.run(
        [*CONTROL, "--config", str(config), "--port", "1", "--token-file", str(token)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "services.x.name: required field is missing" in lines[0]


def _status(url: str) -> dict[str, Any]:
    result: dict[str, Any] = requests.get(f"{url}/v1/config/status", timeout=5).json()
    return result


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_restart_with_state_file_resumes_version_and_policies(
    launcher: Launcher, tmp_path: Path
) -> None:
    """Killed and started again with the same command, it serves the same version and policy."""
    state = ["--state-file", str(tmp_path / "state" / "control.json")]
    first = launcher.start(*state)
    client = ControlPlaneClient(first.url, first.token)
    client.patch_policy("catalog", {"http": [{"timeout": "3s"}]})
    assert client.patch_policy("cart", {"http": [{"timeout": "4s"}]}) == 3
    stop_group(first.process, signal.SIGKILL)
    second = launcher.start(*state, port=int(first.url.rsplit(":", 1)[1]))
    config = ControlPlaneClient(second.url, second.token).config()
    assert config.version == 3
    assert config.services["catalog"].policy.http[0].timeout == 3.0
    assert config.services["cart"].policy.http[0].timeout == 4.0


def test_restart_without_state_reissues_config_above_the_sidecars_version(
    launcher: Launcher,
) -> None:
    """A sidecar polling with a newer version than the store's gets the config at once, newer."""
    plane = launcher.start()
    started = time.monotonic()
    response = requests.get(
        f"{plane.url}/v1/config",
        params={"version": "7", "wait": "10", "sidecar": "cart-0"},
        timeout=15,
    )
    assert response.status_code == 200 and response.json()["version"] == 8
    assert time.monotonic() - started < 2.0
    assert _status(plane.url)["sidecars"]["cart-0"]["version"] == 7


def test_hostile_requests_get_4xx_and_log_no_traceback(launcher: Launcher) -> None:
    """A bearer that is not ASCII is 401, JSON nested too deeply is 400, a request line
    over aiohttp's limit is 400: none is a 500, and the log has no traceback."""
    control_plane = launcher.start()
    url = control_plane.url
    foreign = {"Authorization": "Bearer caf\xe9"}  # sent as latin-1 bytes
    assert requests.put(f"{url}/v1/config", json={}, headers=foreign, timeout=5).status_code == 401
    nested = b"[" * 100_000
    response = requests.put(f"{url}/v1/config", data=nested, headers=_auth(), timeout=5)
    assert response.status_code == 400 and "nested too deeply" in response.json()["error"]
    long_line = requests.get(f"{url}/v1/config?service={'a' * 10_000}", timeout=5)
    assert long_line.status_code == 400
    assert requests.get(f"{url}/v1/config", timeout=5).json()["version"] == 1
    log = (launcher.work / "control-0.log").read_text()
    assert "Traceback" not in log
    assert "malformed request (400)" in log


def test_a_body_that_is_not_its_content_encoding_is_refused_and_changes_nothing(
    launcher: Launcher,
) -> None:
    """A write whose body is not the gzip it says (garbage, or cut short) is 400 naming
    the encoding, an unknown encoding 415, and the config stays; real gzip still works."""
    import gzip

    control_plane = launcher.start()
    url = f"{control_plane.url}/v1/services/cart/policy"
    whole = gzip.compress(b'{"http": [{"timeout": "2s"}]}')
    for body in (b"not gzip at all", whole[:-6]):
        headers = {**_auth(), "Content-Encoding": "gzip", "Content-Type": "application/json"}
        response = requests.patch(url, data=body, headers=headers, timeout=5)
        assert response.status_code == 400, response.text
        assert "gzip" in response.json()["error"]
    brotli = {**_auth(), "Content-Encoding": "br"}
    response = requests.patch(url, data=b"{}", headers=brotli, timeout=5)
    assert response.status_code == 415 and "br" in response.json()["error"]
    assert requests.get(f"{control_plane.url}/v1/config", timeout=5).json()["version"] == 1
    gzipped = {**_auth(), "Content-Encoding": "gzip"}
    response = requests.patch(url, data=whole, headers=gzipped, timeout=5)
    assert response.status_code == 200 and response.json()["version"] == 2
    assert "Traceback" not in (launcher.work / "control-0.log").read_text()


def test_a_reported_version_that_is_not_a_safe_integer_is_400_and_changes_nothing(
    launcher: Launcher,
) -> None:
    """A poll naming a version past 2**53 - 1 (or below -1, or not an integer) is 400 and
    records nothing; a sidecar just below it still gets the config re-issued above it."""
    plane = launcher.start()
    config = f"{plane.url}/v1/config"
    for version in (str(2**53), str(2**63), "-2", "1.5", "+3", "1_0"):
        params = {"version": version, "sidecar": "cart-0"}
        response = requests.get(config, params=params, timeout=5)
        assert response.status_code == 400, version
        assert "version" in response.json()["error"]
    assert requests.get(config, timeout=5).json()["version"] == 1
    assert _status(plane.url)["sidecars"] == {}
    params = {"version": str(2**53 - 2), "sidecar": "cart-0"}
    response = requests.get(config, params=params, timeout=5)
    assert response.status_code == 200 and response.json()["version"] == 2**53 - 1
    first = requests.get(config, params={"version": "-1", "sidecar": "cart-1"}, timeout=5)
    assert first.status_code == 200 and first.json()["version"] == 2**53 - 1
