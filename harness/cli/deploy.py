"""`meshproof up | down | status`: deploy a topology on its own, look at it, take it down."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.commands import RUNTIMES
from mesh_runtime.errors import DeployError, InvalidInput

if TYPE_CHECKING:
    from rich.console import Console

    from mesh_runtime.runtimes.deployment import (
        Deployment,
        KubernetesPlacement,
        KubernetesSource,
    )
    from mesh_runtime.runtimes.local import LocalRuntime
    from mesh_runtime.topology import MeshMode


def register(subparsers: Any) -> None:
    _register_up(subparsers)
    _register_down(subparsers)
    _register_status(subparsers)


def _register_up(subparsers: Any) -> None:
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
    up.add_argument(
        "--config-source",
        choices=("topology", "kubernetes"),
        default="topology",
        help="where the control plane takes its policies from: the topology file (default), "
        "or Istio objects in a Kubernetes namespace, which `up` first writes from the "
        "topology's policies (VirtualService, DestinationRule, PeerAuthentication, "
        "AuthorizationPolicy; created or replaced) and the control plane then watches",
    )
    up.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="the cluster (--runtime kubernetes, or --config-source kubernetes)",
    )
    up.add_argument("--context", help="kubeconfig context (default: its current one)")
    up.add_argument(
        "--namespace",
        default="default",
        help="namespace of the mesh (--runtime kubernetes) or of the Istio objects "
        "(default: default); it must exist",
    )
    up.add_argument(
        "--no-wait",
        action="store_true",
        help="--runtime kubernetes: return once the objects exist, without waiting for the "
        "pods to be ready",
    )
    up.set_defaults(func=run_up)


def _register_down(subparsers: Any) -> None:
    down = _deployment_command(
        subparsers,
        "down",
        "stop a deployment",
        "Stop every process of a deployment, delete its Toxiproxy proxies and "
        "remove its state file. Also cleans up after an `up` that failed half-way. "
        "A kubernetes deployment: delete every object carrying its meshproof.deployment "
        "label in its namespace (with --kubeconfig also when its state file is gone).",
    )
    down.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="a kubernetes deployment whose state file is gone: delete what carries the "
        "label `up --runtime kubernetes` gave TOPOLOGY from this state directory",
    )
    down.add_argument("--context", help="kubeconfig context (default: its current one)")
    down.add_argument("--namespace", default="default", help="its namespace (default: default)")
    down.set_defaults(func=run_down)


def _register_status(subparsers: Any) -> None:
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
    from harness.cli.console import make_console
    from mesh_runtime.runtimes.registry import make_runtime

    console = make_console(stderr=True, highlight=True, soft_wrap=False)
    mode: MeshMode = "no-mesh" if args.no_mesh else "mesh"
    placement = kubernetes_placement(args)
    source = kubernetes_source(args) if placement is None else None
    if source is not None:
        publish(console, args.topology, source)
    with console.status(f"bringing {args.topology} up ({mode})") as progress:
        runtime = make_runtime(
            args.runtime,
            progress=lambda message: progress.update(message),
            kubernetes=placement,
            wait=not args.no_wait,
        )
        deployment = runtime.up(args.topology, mode=mode, config_source=source)
    if placement is not None:
        where = f"namespace {placement.namespace}, label meshproof.deployment="
        waited = "" if args.no_wait else ", every pod ready"
        console.print(
            f"[green]up[/green] {deployment.name} ({mode}, {where}"
            f"{(deployment.kubernetes or placement).deployment_id}{waited})"
        )
    else:
        console.print(
            f"[green]up[/green] {deployment.name} ({mode}, {len(deployment.processes)} processes)"
        )
    _print_urls(make_console(highlight=True, soft_wrap=False), deployment)
    print_source_report(console, source_report(deployment))
    return 0


def kubernetes_placement(args: argparse.Namespace) -> KubernetesPlacement | None:
    """Where `--runtime kubernetes` deploys; None for another runtime (where --no-wait is
    refused). Bad flags are InvalidInput."""
    if args.runtime != "kubernetes":
        if args.no_wait:
            raise InvalidInput("--no-wait", "", "needs --runtime kubernetes")
        return None
    if args.config_source == "kubernetes":
        raise InvalidInput(
            "--config-source", "", "kubernetes is not available with --runtime kubernetes yet"
        )
    if not args.kubeconfig:
        raise InvalidInput("--runtime", "", "kubernetes needs --kubeconfig FILE")
    return placement_of(args)


def placement_of(args: argparse.Namespace) -> KubernetesPlacement:
    """The cluster and namespace --kubeconfig, --context and --namespace name."""
    from mesh_runtime.runtimes.deployment import KubernetesPlacement

    return KubernetesPlacement(
        kubeconfig=kubeconfig_path(args), context=args.context, namespace=args.namespace
    )


def kubeconfig_path(args: argparse.Namespace) -> str:
    """--kubeconfig's absolute path; InvalidInput when it names no file."""
    kubeconfig = Path(args.kubeconfig)
    if not kubeconfig.is_file():
        raise InvalidInput(args.kubeconfig, "", "no such kubeconfig file")
    return str(kubeconfig.resolve())


def kubernetes_source(args: argparse.Namespace) -> KubernetesSource | None:
    """The Kubernetes configuration source the flags ask for; bad flags are InvalidInput."""
    from mesh_runtime.runtimes.deployment import KubernetesSource

    if args.config_source != "kubernetes":
        if args.kubeconfig or args.context:
            flag = "--kubeconfig" if args.kubeconfig else "--context"
            raise InvalidInput(flag, "", "needs --config-source kubernetes")
        return None
    if args.no_mesh:
        raise InvalidInput("--config-source", "", "kubernetes needs the mesh (not --no-mesh)")
    if not args.kubeconfig:
        raise InvalidInput("--config-source", "", "kubernetes needs --kubeconfig FILE")
    return KubernetesSource(
        kubeconfig=kubeconfig_path(args), context=args.context, namespace=args.namespace
    )


def publish(console: Console, topology_file: str, source: KubernetesSource) -> None:
    """Write the topology's policies as Istio objects into the source's namespace."""
    from harness.kube.publish import publish_policies
    from mesh_runtime.kube.client import KubeClient
    from mesh_runtime.topology import load_topology

    topology = load_topology(topology_file)
    with KubeClient.connect(Path(source.kubeconfig), source.context) as kube:
        done = publish_policies(kube, topology, source.namespace)
    for note in done.notes:
        console.print(f"[yellow]note[/yellow] {note}", highlight=False)
    console.print(
        f"Istio objects in {source.namespace}: {len(done.created)} created, "
        f"{len(done.replaced)} replaced, {len(done.deleted)} deleted",
        highlight=False,
    )


def source_report(deployment: Deployment) -> dict[str, Any] | None:
    """The control plane's report on its Kubernetes source (None without one)."""
    from mesh_runtime.control.client import ControlPlaneClient
    from mesh_runtime.errors import ControlPlaneError

    if deployment.config_source is None or not deployment.control_url:
        return None
    try:
        with ControlPlaneClient(deployment.control_url) as client:
            return dict(client.status().get("kubernetes") or {})
    except ControlPlaneError as exc:
        return {"error": str(exc)}


def print_source_report(console: Console, report: dict[str, Any] | None) -> None:
    """Each field of the Istio objects the reference mesh does not implement, and each
    object (or part) it could not use: never silently ignored."""
    if report is None:
        return
    if report.get("error"):
        console.print(f"[yellow]kubernetes source[/yellow] {report['error']}", highlight=False)
    for line in report.get("unimplemented", []):
        console.print(f"[yellow]not implemented[/yellow] {line}", highlight=False)
    for line in report.get("problems", []):
        console.print(f"[yellow]not used[/yellow] {line}", highlight=False)


def run_down(args: argparse.Namespace) -> int:
    from harness.cli.console import make_console
    from mesh_runtime.runtimes.local import LocalRuntime
    from mesh_runtime.runtimes.registry import runtime_of

    console = make_console(stderr=True, highlight=True, soft_wrap=False)
    if args.kubeconfig and args.topology:
        name = (
            deployment_name_of(Path(args.topology))
            if Path(args.topology).is_file()
            else args.topology
        )
        if not LocalRuntime().state_file(name).exists():
            return _down_unrecorded(console, args, name)
    deployment = find_deployment(LocalRuntime(), args.topology)
    with console.status(f"stopping {deployment.name}"):
        runtime_of(deployment).down(deployment)
    gone = (
        "every object with its label deleted"
        if deployment.kubernetes is not None
        else "every process stopped"
    )
    console.print(f"[green]down[/green] {deployment.name}: {gone}")
    return 0


def _down_unrecorded(console: Console, args: argparse.Namespace, name: str) -> int:
    from mesh_runtime.runtimes.kubernetes.runtime import KubernetesRuntime

    runtime = KubernetesRuntime(placement=placement_of(args))
    with console.status(f"deleting what carries {name}'s label"):
        runtime.down_unrecorded(name)
    console.print(f"[green]down[/green] {name}: every object with its label deleted")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from harness.cli.console import make_console
    from mesh_runtime.runtimes.local import LocalRuntime
    from mesh_runtime.runtimes.registry import runtime_of

    deployment = find_deployment(LocalRuntime(), args.topology)
    report = runtime_of(deployment).status(deployment)
    source = source_report(deployment)
    if source is not None:
        report["kubernetes"] = source
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        console = make_console()
        _print_status(console, report)
        print_source_report(console, source)
    every_ready = all(p["ready"] for p in report["processes"])
    if "objects" in report and not report["processes"]:  # kubernetes: no part left at all
        every_ready = False
    return 0 if every_ready else 1


def find_deployment(runtime: LocalRuntime, which: str | None) -> Deployment:
    """The deployment named (or whose topology or target file is) `which`, or the only one up."""

    if which is None:
        found = runtime.deployments()
        if len(found) == 1:
            return found[0]
        if not found:
            raise DeployError(f"nothing is up (no state file in {runtime.state_root})")
        names = ", ".join(d.name for d in found)
        raise DeployError(f"several deployments are up ({names}); name one")
    name = deployment_name_of(Path(which)) if Path(which).is_file() else which
    return runtime.load(name)


def deployment_name_of(path: Path) -> str:
    """The deployment a topology file (its name) or a target file (`external-<name>`) makes."""
    from mesh_runtime.runtimes.external import deployment_name
    from mesh_runtime.target import is_target_file, load_target
    from mesh_runtime.topology import load_topology

    if is_target_file(path):
        return deployment_name(load_target(path))
    return load_topology(path).name


def _print_urls(console: Console, deployment: Deployment) -> None:
    console.print(f"ingress     {deployment.ingress_url}")
    console.print(f"prometheus  {deployment.prometheus_url}")
    if deployment.control_url:
        console.print(f"control     {deployment.control_url}")
    console.print(f"toxiproxy   {deployment.toxiproxy_url}")
    if deployment.config_source is not None:
        source = deployment.config_source
        console.print(
            f"policies    Istio objects in namespace {source.namespace} ({source.kubeconfig})"
        )
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
        if not proc["ready"] and proc.get("phase"):
            state = f"[yellow]{proc['phase']}: {proc['reason']}[/yellow]"
        pid = "-" if proc["pid"] is None else str(proc["pid"])
        rows.append([proc["name"], proc["role"], pid, ports, state])
    title = f"{report['topology']} ({report['mode']}, {report['runtime']})"
    columns = ("process", "role", "pid", "ports", "state")
    show_table(console, title, columns, rows, right=("pid",), wrap=("ports", "state"))
    if "objects" in report:
        kinds = ", ".join(f"{len(names)} {kind}" for kind, names in report["objects"].items())
        console.print(f"namespace   {report['namespace']} on {report['server']}")
        console.print(
            f"objects     {kinds or 'none'} (meshproof.deployment={report['deployment_id']})"
        )
    console.print(f"ingress     {report['ingress_url']}")
    console.print(f"prometheus  {report['prometheus_url']}")
