"""`meshproof up | down | status`: deploy a topology on its own, look at it, take it down."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.commands import RUNTIMES
from mesh_runtime.errors import DeployError

if TYPE_CHECKING:
    from rich.console import Console

    from mesh_runtime.runtimes.deployment import Deployment
    from mesh_runtime.runtimes.local import LocalRuntime
    from mesh_runtime.topology import MeshMode


def register(subparsers: Any) -> None:
    up = subparsers.add_parser(
        "up",
        help="deploy a topology and leave it running",
        description="Start every part of TOPOLOGY (trace sink, Toxiproxy, control plane, "
        "services and their sidecars, Prometheus) and wait until the mesh serves.",
    )
    up.add_argument(
        "topology", metavar="TOPOLOGY", help="topology file, e.g. experiments/topologies/shop.yaml"
    )
    up.add_argument(
        "--no-mesh", action="store_true", help="run the services without sidecars (baseline)"
    )
    up.add_argument(
        "--runtime", choices=RUNTIMES, default="local", help="where to run it (default: local)"
    )
    up.set_defaults(func=run_up)

    down = _deployment_command(
        subparsers,
        "down",
        "stop a deployment",
        "Stop every process of a deployment, delete its Toxiproxy proxies and "
        "remove its state file. Also cleans up after an `up` that failed half-way.",
    )
    down.set_defaults(func=run_down)

    status = _deployment_command(
        subparsers,
        "status",
        "show a deployment's processes and URLs",
        "Show each process of a deployment (role, pid, ports, alive, ready) "
        "and its ingress and Prometheus URLs. Exit code 1 if a process is not ready.",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=run_status)


def _deployment_command(
    subparsers: Any, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    """A command about one deployment that is up: TOPOLOGY is optional."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=summary, description=description
    )
    parser.add_argument("topology", metavar="TOPOLOGY", nargs="?", help=_WHICH)
    return parser


_WHICH = "topology name or file (default: the only deployment that is up)"


def run_up(args: argparse.Namespace) -> int:
    from rich.console import Console

    from mesh_runtime.runtimes.registry import make_runtime

    console = Console(stderr=True)
    mode: MeshMode = "no-mesh" if args.no_mesh else "mesh"
    with console.status(f"bringing {args.topology} up ({mode})") as progress:
        runtime = make_runtime(args.runtime, progress=lambda message: progress.update(message))
        deployment = runtime.up(args.topology, mode=mode)
    console.print(
        f"[green]up[/green] {deployment.name} ({mode}, {len(deployment.processes)} processes)"
    )
    _print_urls(Console(), deployment)
    return 0


def run_down(args: argparse.Namespace) -> int:
    from rich.console import Console

    from mesh_runtime.runtimes.local import LocalRuntime
    from mesh_runtime.runtimes.registry import runtime_of

    deployment = find_deployment(LocalRuntime(), args.topology)
    console = Console(stderr=True)
    with console.status(f"stopping {deployment.name}"):
        runtime_of(deployment).down(deployment)
    console.print(f"[green]down[/green] {deployment.name}: every process stopped")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from rich.console import Console

    from mesh_runtime.runtimes.local import LocalRuntime
    from mesh_runtime.runtimes.registry import runtime_of

    deployment = find_deployment(LocalRuntime(), args.topology)
    report = runtime_of(deployment).status(deployment)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_status(Console(highlight=False, soft_wrap=True), report)
    every_ready = all(p["ready"] for p in report["processes"])
    return 0 if every_ready else 1


def find_deployment(runtime: LocalRuntime, which: str | None) -> Deployment:
    """The deployment named (or whose topology file is) `which`, or the only one up."""
    from mesh_runtime.topology import load_topology

    if which is None:
        found = runtime.deployments()
        if len(found) == 1:
            return found[0]
        if not found:
            raise DeployError(f"nothing is up (no state file in {runtime.state_root})")
        names = ", ".join(d.name for d in found)
        raise DeployError(f"several deployments are up ({names}); name one")
    name = load_topology(which).name if Path(which).is_file() else which
    return runtime.load(name)


def _print_urls(console: Console, deployment: Deployment) -> None:
    console.print(f"ingress     {deployment.ingress_url}")
    console.print(f"prometheus  {deployment.prometheus_url}")
    if deployment.control_url:
        console.print(f"control     {deployment.control_url}")
    console.print(f"toxiproxy   {deployment.toxiproxy_url}")
    if deployment.trace_file:
        console.print(f"spans       {deployment.trace_file}")
    console.print(f"logs        {Path(deployment.work_dir) / 'logs'}")


def _print_status(console: Console, report: dict[str, Any]) -> None:
    from harness.cli.tables import show_table

    rows = []
    for proc in report["processes"]:
        ports = " ".join(f"{k}={v}" for k, v in proc["ports"].items())
        state = (
            "[green]ready[/green]"
            if proc["ready"]
            else ("[yellow]not ready[/yellow]" if proc["alive"] else "[red]dead[/red]")
        )
        rows.append([proc["name"], proc["role"], str(proc["pid"]), ports, state])
    title = f"{report['topology']} ({report['mode']}, {report['runtime']})"
    columns = ("process", "role", "pid", "ports", "state")
    show_table(console, title, columns, rows, right=("pid",), wrap=("ports",))
    console.print(f"ingress     {report['ingress_url']}")
    console.print(f"prometheus  {report['prometheus_url']}")
