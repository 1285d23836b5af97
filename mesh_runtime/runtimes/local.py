"""The local runtime: the whole mesh as processes on 127.0.0.1.

`up` carries out a Plan stage by stage and records every process in the state file the
moment it starts, so `down` can clean up after an `up` that died half-way. On any failure
`up` stops what it started and raises DeployError with the failing part's log tail.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mesh_runtime.errors import DeployError, ReadinessTimeout
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.admin import admin_headers, admin_json
from mesh_runtime.runtimes.base import StateKeeper, deployment_of, status_of
from mesh_runtime.runtimes.deployment import Deployment, KubernetesSource
from mesh_runtime.runtimes.hot_restart import migrate_req_warning, read_migrate_req
from mesh_runtime.runtimes.plan import Plan, ProcessSpec, Tools
from mesh_runtime.runtimes.prometheus import PrometheusServer, expected_targets, scrape_config
from mesh_runtime.runtimes.readiness import Deadline, wait_until
from mesh_runtime.runtimes.supervisor import Supervisor, is_running
from mesh_runtime.runtimes.toxiproxy import ToxiproxyClient
from mesh_runtime.runtimes.workdir import DeploymentSecrets, write_deployment_files
from mesh_runtime.tools import find_binary
from mesh_runtime.topology import MeshMode, load_topology


class LocalRuntime(StateKeeper):
    """Processes on 127.0.0.1; state under `state_root` (default `$MESHPROOF_STATE_DIR` or `.meshproof`)."""

    name = "local"
    READY_TIMEOUT = 60.0
    _warned_migrate_req = False
    """Set on the instance once the tcp_migrate_req warning was printed."""

    # --- finding deployments ------------------------------------------------------------

    def deployments(self) -> list[Deployment]:
        return [state.load(path) for path in state.saved_deployments(self.state_root)]

    # --- up -----------------------------------------------------------------------------

    def up(
        self,
        topology_path: str | Path,
        *,
        mode: MeshMode = "mesh",
        otlp_endpoint: str | None = None,
        sidecar_command: Sequence[str] | None = None,
        config_source: KubernetesSource | None = None,
    ) -> Deployment:
        """`sidecar_command`: run this sidecar program instead (a command prefix);
        `config_source`: the control plane takes its policies from Istio objects there."""
        topology = load_topology(topology_path)
        self.refuse_if_running(topology.name)
        tools = _find_tools(sidecar_command)
        plan = self._fresh_plan(topology, topology_path, mode, tools, otlp_endpoint, config_source)
        keys = DeploymentSecrets.generate()
        deployment = deployment_of(
            plan, runtime=self.name, control_token=keys.control_token, proxies=plan.proxies
        )
        supervisor = self._supervisor(deployment, record=True)
        with self._recorded_up(
            deployment, lambda: self._teardown(deployment, supervisor), "stopping what was started"
        ):
            write_deployment_files(plan.files, plan.mesh_config, plan.instances, keys)
            self._carry_out(plan, supervisor)
        return deployment

    def _carry_out(self, plan: Plan, supervisor: Supervisor) -> None:
        def ready(spec: ProcessSpec) -> None:
            self.progress(f"{spec.name} ready")

        for stage in plan.stages:  # Prometheus is in the first: see make_plan
            names = ", ".join(spec.name for spec in stage)
            self.progress(f"starting {names}")
            supervisor.start_and_wait(stage, self.ready_timeout, ready)
            if any(spec.role == "toxiproxy" for spec in stage):
                self._create_proxies(plan)
        self._wait_config(plan)
        self.progress("waiting until Prometheus scrapes every sidecar")
        config = scrape_config(plan.instances)
        PrometheusServer(plan.prometheus_url).wait_for_targets_up(
            expected_targets(config), self.ready_timeout
        )

    def _create_proxies(self, plan: Plan) -> None:
        client = ToxiproxyClient(plan.toxiproxy_url)
        for proxy in plan.proxies:
            client.create_proxy(proxy.name, proxy.listen, proxy.upstream)
        self.progress(f"{len(plan.proxies)} Toxiproxy proxies created")

    def _wait_config(self, plan: Plan) -> None:
        """Wait until every sidecar runs (at least) the initial config version."""
        wanted = plan.mesh_config.version
        sidecars = [record for record in plan.instances if record.admin_port is not None]
        if not sidecars:
            return
        headers = admin_headers(plan.files.admin_token)
        for record in sidecars:
            url = f"http://127.0.0.1:{record.admin_port}/config_dump"
            self._wait_version(f"{record.instance}-sidecar", url, headers, wanted)
        self.progress(f"every sidecar runs config version {wanted}")

    def _wait_version(self, name: str, url: str, headers: dict[str, str], wanted: int) -> None:
        def has_it() -> bool:
            return (_config_version(url, headers) or -1) >= wanted

        if wait_until(has_it, Deadline.after(self.ready_timeout), interval=0.1) != "ready":
            raise ReadinessTimeout(
                f"{name} runs config version {_config_version(url, headers)}, not {wanted}, "
                f"after {self.ready_timeout:.0f}s"
            )

    def refuse_if_running(self, topology_name: str) -> None:
        """DeployError when `topology_name` is up already; a stale state file (its parts all
        gone) is cleaned up instead. `up` calls it first; `meshproof run` before it writes."""
        path = self.state_file(topology_name)
        if not path.exists():
            return
        old = state.load(path)
        if any(is_running(record) for record in old.processes):
            raise DeployError(
                f"{topology_name} is already up (state file {path}); "
                f"run `meshproof down {topology_name}` first"
            )
        self._teardown(old, self._supervisor(old, record=False))

    # --- down / status / restart / signal -----------------------------------------------

    def down(self, deployment: Deployment) -> None:
        self._teardown(deployment, self._supervisor(deployment, record=False))

    def _teardown(self, deployment: Deployment, supervisor: Supervisor) -> None:
        """Delete the proxies, stop every process, check none is left, drop the state file."""
        self._delete_proxies(deployment)
        records = list(reversed(deployment.processes))
        supervisor.stop_all(records, self.stop_grace)
        supervisor.stop_strays(self.stop_grace)
        left = [r for r in records if is_running(r)]
        if left:
            names = ", ".join(f"{r.name} (pid {r.pid})" for r in left)
            raise DeployError(f"{deployment.name}: still running after down: {names}")
        state.remove(self.state_file(deployment.name))

    def _delete_proxies(self, deployment: Deployment) -> None:
        toxiproxy = deployment.processes_of("toxiproxy")
        if not deployment.toxiproxy_url or not any(is_running(r) for r in toxiproxy):
            return
        client = ToxiproxyClient(deployment.toxiproxy_url)
        try:
            existing = client.proxies()
        except DeployError:
            return  # the server is stopped next anyway, and its proxies with it
        for proxy in deployment.proxies:
            if proxy.name in existing:
                client.delete_proxy(proxy.name)

    def status(self, deployment: Deployment) -> dict[str, Any]:
        supervisor = self._supervisor(deployment, record=False)
        return status_of(deployment, supervisor.alive)

    def restart(self, deployment: Deployment, name: str) -> Deployment:
        """Restart one process; a sidecar hot (the new one serves before the old one drains).

        Every other part is stopped, then started again. A sidecar program that cannot
        share its ports (an older sidecar under upgrade validation) is restarted that way too.
        """
        record = deployment.process(name)
        path = self.state_file(deployment.name)
        supervisor = self._supervisor(deployment, record=False)
        grace, timeout = self.stop_grace, self.ready_timeout
        new = None
        if record.role == "sidecar":
            self._warn_migrate_req()
            new = supervisor.hot_restart(record, grace=grace, timeout=timeout)
            if new is None:
                self.progress(f"{name}: the new process could not share the ports; cold restart")
        if new is None:
            new = supervisor.restart(record, grace=grace, timeout=timeout)
        deployment.processes = [new if r.name == name else r for r in deployment.processes]
        state.save(deployment, path)
        return deployment

    def _warn_migrate_req(self) -> None:
        """Say once (stderr) when the kernel will reset connections a draining sidecar queued."""
        warning = migrate_req_warning(read_migrate_req())
        if warning and not self._warned_migrate_req:
            self._warned_migrate_req = True
            print(f"meshproof: {warning}", file=sys.stderr)

    def signal(self, deployment: Deployment, name: str, sig: int) -> None:
        record = deployment.process(name)
        self._supervisor(deployment, record=False).signal(record, sig)


def _find_tools(sidecar_command: Sequence[str] | None = None) -> Tools:
    return Tools(
        python=sys.executable,
        toxiproxy=str(find_binary("toxiproxy-server")),
        prometheus=str(find_binary("prometheus")),
        sidecar=tuple(sidecar_command or ()),
    )


def _config_version(url: str, headers: dict[str, str]) -> int | None:
    document = admin_json(url, headers, timeout=1.0)
    try:
        version = document.get("version") if document is not None else None
        return int(version) if version is not None else None
    except (ValueError, TypeError):
        return None
