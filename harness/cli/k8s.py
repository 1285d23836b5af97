"""`meshproof k8s render TOPOLOGY`: the Kubernetes manifests of the same mesh.

Writes one YAML file per object into DIR (default `<topology>.k8s/`), numbered in the
order they apply: ConfigMaps, Secrets, Services, Deployments (each service instance a pod
of two containers, app and sidecar; control plane, Toxiproxy and trace sink), Prometheus
with Kubernetes service discovery and its RBAC. They are what
`meshproof up --runtime kubernetes` creates. Every object is labelled
`meshproof.deployment=<id>` and every container has `imagePullPolicy: Never`: load the
images `meshproof images build` makes (meshproof/mesh, meshproof/toxiproxy) and
meshproof/prometheus (`make setup`: Prometheus built with its Kubernetes discovery) into
the node first. Apply with `kubectl apply -f DIR`; delete with
`kubectl delete -n NS all,configmap,secret,serviceaccount,role,rolebinding -l
meshproof.deployment=<id>`. The Secret files are owner-only (0600); each render makes new
secrets.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.commands import add_command
from harness.cli.compose import FIRST_PORT, check_first_port, write_rendered

if TYPE_CHECKING:
    from mesh_runtime.topology import MeshMode


def register(subparsers: Any) -> None:
    k8s = add_command(
        subparsers,
        "k8s",
        "write the Kubernetes manifests of a topology",
        "The reference mesh as Kubernetes objects. One action: render.",
    )
    actions = k8s.add_subparsers(dest="k8s_command", metavar="ACTION", required=True)
    render = add_command(actions, "render", "render TOPOLOGY as Kubernetes manifests", __doc__)
    render.add_argument("topology", metavar="TOPOLOGY", help="topology file")
    render.add_argument(
        "-o", "--out", type=Path, default=None, help="folder (default <topology file name>.k8s)"
    )
    render.add_argument("--namespace", default="default", help="namespace (default: default)")
    render.add_argument(
        "--deployment-id", help="value of the meshproof.deployment label (default: topology name)"
    )
    render.add_argument("--no-mesh", action="store_true", help="services without sidecars")
    render.add_argument(
        "--first-port", type=int, default=FIRST_PORT, help=f"first port (default {FIRST_PORT})"
    )
    render.set_defaults(func=run_render)


def render_objects(
    topology_file: Path,
    *,
    namespace: str,
    deployment: str | None = None,
    mode: MeshMode = "mesh",
    first_port: int = FIRST_PORT,
) -> list[dict[str, Any]]:
    """The objects `k8s render` writes (new secrets and a new CA root each time)."""
    from mesh_runtime.control.ca import CertificateAuthority
    from mesh_runtime.runtimes.docker.compose import render_plan
    from mesh_runtime.runtimes.kubernetes.manifests import manifests
    from mesh_runtime.runtimes.kubernetes.meta import check_names
    from mesh_runtime.runtimes.workdir import DeploymentSecrets
    from mesh_runtime.topology import load_topology

    check_first_port(first_port)
    topology = load_topology(topology_file)
    check_names(namespace, deployment or topology.name)
    cplan = render_plan(topology, str(topology_file), mode, first_port)
    keys = DeploymentSecrets.generate()
    root = CertificateAuthority.create().root_files()
    name = deployment or topology.name
    return manifests(cplan, keys, deployment=name, namespace=namespace, ca=root)


def write_objects(folder: Path, objects: list[dict[str, Any]]) -> list[Path]:
    """Each object as `NN-<kind>-<name>.yaml` in `folder`; Secrets owner-only."""
    import yaml

    from mesh_runtime.runtimes.kubernetes.manifests import file_name

    written = []
    for index, obj in enumerate(objects):
        path = folder / file_name(index, obj)
        text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=100)
        write_rendered(path, text, secret=obj["kind"] == "Secret")
        written.append(path)
    return written


def run_render(args: argparse.Namespace) -> int:
    from harness.cli.console import make_console

    mode: MeshMode = "no-mesh" if args.no_mesh else "mesh"
    topology_file = Path(args.topology)
    objects = render_objects(
        topology_file,
        namespace=args.namespace,
        deployment=args.deployment_id,
        mode=mode,
        first_port=args.first_port,
    )
    folder = args.out or Path(f"{topology_file.stem}.k8s")
    written = write_objects(folder, objects)
    make_console(soft_wrap=False).print(f"wrote {len(written)} objects into {folder}")
    return 0
