"""Rollback entries: how to undo a fault, as JSON, and how to carry that out from JSON alone.

An entry is `{"fault": NAME, "kind": KIND, "target": TARGET, "steps": [STEP, ...]}`; each
step is one self-contained action that needs nothing but what it holds (and, at most, the
deployment's state file), so that `meshproof recover` can undo a fault after the harness
that applied it was SIGKILLed. Steps are idempotent: undoing what is already undone is a
no-op, so a rollback may be tried again. The control plane token is never written into a
step; the step names the deployment state file, which holds it.

Every step names the state file; when that file is gone, the deployment was taken down
and nothing it ran is left to undo.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil
import requests

from harness.errors import FaultError
from mesh_runtime.control.client import ControlPlaneClient
from mesh_runtime.errors import MeshproofError
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.supervisor import is_running
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient

Step = dict[str, Any]
RestartFn = Callable[[Path, str], None]
"""Restarts process `name` of the deployment whose state file is given."""

HTTP_TIMEOUT_S = 5.0


def entry(fault: str, kind: str, target: str, steps: list[Step]) -> dict[str, Any]:
    return {"fault": fault, "kind": kind, "target": target, "steps": steps}


def remove_toxic(state_file: Path, toxiproxy_url: str, proxy: str, toxic: str) -> Step:
    return _step("remove_toxic", state_file, toxiproxy_url=toxiproxy_url, proxy=proxy, toxic=toxic)


def enable_proxy(state_file: Path, toxiproxy_url: str, proxy: str) -> Step:
    return _step("enable_proxy", state_file, toxiproxy_url=toxiproxy_url, proxy=proxy)


def restore_policy(
    state_file: Path, control_url: str, service: str, policy: Mapping[str, Any]
) -> Step:
    return _step(
        "restore_policy", state_file, control_url=control_url, service=service, policy=dict(policy)
    )


def restore_behaviour(
    state_file: Path, instance: str, admin_url: str, behaviour: Mapping[str, Any]
) -> Step:
    return _step(
        "restore_behaviour",
        state_file,
        instance=instance,
        admin_url=admin_url,
        behaviour=dict(behaviour),
    )


def resume_process(state_file: Path, name: str, pid: int, create_time: float) -> Step:
    return _step("resume_process", state_file, name=name, pid=pid, create_time=create_time)


def ensure_running(state_file: Path, name: str) -> Step:
    return _step("ensure_running", state_file, name=name)


def _step(action: str, state_file: Path, **fields: Any) -> Step:
    return {"action": action, "state_file": str(state_file), **fields}


def describe(step: Mapping[str, Any]) -> str:
    """One line saying what a step does, for `meshproof recover`'s output."""
    action = step.get("action")
    if action == "remove_toxic":
        return f"remove toxic {step['toxic']} from proxy {step['proxy']}"
    if action == "enable_proxy":
        return f"enable proxy {step['proxy']}"
    if action == "restore_policy":
        return f"restore the policy of {step['service']}"
    if action == "restore_behaviour":
        return f"restore the behaviour of {step['instance']}"
    if action == "resume_process":
        return f"SIGCONT {step['name']} (pid {step['pid']})"
    if action == "ensure_running":
        return f"make sure {step['name']} runs"
    from harness.faults.container import describe_step

    return describe_step(step) or f"unknown step {action!r}"


class Executor:
    """Carries out rollback entries; `restart` is how a stopped process is started again
    (by default through the local runtime, from the deployment state file)."""

    def __init__(self, restart: RestartFn | None = None) -> None:
        self._restart = restart or restart_with_local_runtime

    def __call__(self, rollback: Mapping[str, Any]) -> None:
        """Run every step of an entry; failures are collected and raised together."""
        steps = rollback.get("steps")
        if not isinstance(steps, list):
            raise FaultError(f"rollback entry of {rollback.get('fault')!r} has no steps")
        failures = []
        for step in steps:
            try:
                self.run(step)
            except MeshproofError as exc:
                failures.append(str(exc))
        if failures:
            raise FaultError("; ".join(failures))

    def run(self, step: Mapping[str, Any]) -> None:
        state_file = Path(step["state_file"])
        if not state_file.exists():
            return  # the deployment is down: nothing of it is left to undo
        handlers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            "remove_toxic": _remove_toxic,
            "enable_proxy": _enable_proxy,
            "restore_policy": _restore_policy,
            "restore_behaviour": _restore_behaviour,
            "resume_process": _resume_process,
            "ensure_running": self._ensure_running,
        }
        if str(step.get("action")).endswith(("_container", "_network")):
            from harness.faults.container import step_handlers  # imports the Docker SDK

            handlers.update(step_handlers())
        handler = handlers.get(str(step.get("action")))
        if handler is None:
            raise FaultError(f"unknown rollback step {step.get('action')!r}")
        try:
            handler(step)
        except KeyError as exc:
            raise FaultError(f"rollback step {step.get('action')} lacks {exc}") from None

    def _ensure_running(self, step: Mapping[str, Any]) -> None:
        state_file = Path(step["state_file"])
        record = state.load(state_file).process(step["name"])
        if not is_running(record):
            self._restart(state_file, step["name"])


def _remove_toxic(step: Mapping[str, Any]) -> None:
    client = ToxiproxyClient(step["toxiproxy_url"])
    present = {t.get("name") for t in client.toxics(step["proxy"])}
    if step["toxic"] in present:
        client.remove_toxic(step["proxy"], step["toxic"])


def _enable_proxy(step: Mapping[str, Any]) -> None:
    ToxiproxyClient(step["toxiproxy_url"]).set_enabled(step["proxy"], True)


def _restore_policy(step: Mapping[str, Any]) -> None:
    token = state.load(Path(step["state_file"])).control_token
    with ControlPlaneClient(step["control_url"], token) as client:
        client.put_policy(step["service"], step["policy"])


def _restore_behaviour(step: Mapping[str, Any]) -> None:
    put_behaviour(step["admin_url"], step["behaviour"])


def _resume_process(step: Mapping[str, Any]) -> None:
    resume_pid(int(step["pid"]), float(step["create_time"]))


def resume_pid(pid: int, create_time: float) -> None:
    """SIGCONT `pid`'s process group, but only if it is still the process that was paused."""
    try:
        process = psutil.Process(pid)
        if abs(process.create_time() - create_time) > 0.05:
            return  # the pid was reused: the paused process is long gone
    except psutil.NoSuchProcess:
        return
    except psutil.Error as exc:
        raise FaultError(f"pid {pid}: cannot inspect: {exc}") from exc
    try:
        os.killpg(pid, signal.SIGCONT)
    except ProcessLookupError:
        return
    except PermissionError as exc:
        raise FaultError(f"pid {pid}: cannot SIGCONT: {exc}") from exc


def get_behaviour(admin_url: str) -> dict[str, Any]:
    """GET a sample service instance's behaviour (`.../_behaviour`)."""
    response = _http("GET", admin_url, None)
    try:
        data = response.json()
    except ValueError:
        raise FaultError(f"GET {admin_url}: the answer was not JSON") from None
    if not isinstance(data, dict):
        raise FaultError(f"GET {admin_url}: expected a JSON object")
    return data


def put_behaviour(admin_url: str, behaviour: Mapping[str, Any]) -> None:
    _http("PUT", admin_url, dict(behaviour))


def _http(method: str, url: str, body: Any) -> requests.Response:
    try:
        response = requests.request(method, url, json=body, timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as exc:
        raise FaultError(f"{method} {url}: {type(exc).__name__}; is the service running?") from None
    if response.status_code != 200:
        raise FaultError(f"{method} {url}: HTTP {response.status_code} {response.text[:200]}")
    return response


def restart_with_local_runtime(state_file: Path, name: str) -> None:
    """Start process `name` again through the local runtime, from its state file."""
    from mesh_runtime.runtimes.registry import runtime_of  # runtimes import much; only here

    deployment = state.load(state_file)
    # The runtime finds the state file from its root: <root>/deployments/<topology>.json.
    # A docker deployment is restarted by the docker runtime (its state file says which).
    runtime_of(deployment, state_root=state_file.parent.parent).restart(deployment, name)
