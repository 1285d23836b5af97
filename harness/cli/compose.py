"""`meshproof compose render TOPOLOGY`: a docker compose file of the same mesh.

Writes `compose/<topology>.compose.yaml` (or --out) and, beside it, `<topology>/` with
the deployment's files (mesh config, control plane token, Toxiproxy proxies, Prometheus
and OpenTelemetry Collector configs). The services, images, commands, pods
(`network_mode: service:<instance>-pod`) and published ports are the ones
`meshproof up --runtime docker` starts; ports are numbered from --first-port, so a render
is reproducible. Run it with `docker compose -f FILE up -d` and point meshproof at the
published ports.
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.commands import add_command
from mesh_runtime.errors import DeployError, InvalidInput

if TYPE_CHECKING:
    from mesh_runtime.topology import MeshMode

FIRST_PORT = 20000


def register(subparsers: Any) -> None:
    compose = add_command(
        subparsers,
        "compose",
        "write a docker compose file of a topology",
        "The reference mesh as a docker compose project. One action: render.",
    )
    actions = compose.add_subparsers(dest="compose_command", metavar="ACTION", required=True)
    render = add_command(actions, "render", "render TOPOLOGY as a compose file", __doc__)
    render.add_argument("topology", metavar="TOPOLOGY", help="topology file")
    render.add_argument(
        "--out",
        type=Path,
        default=None,
        help="compose file (default compose/<topology>.compose.yaml)",
    )
    render.add_argument("--no-mesh", action="store_true", help="services without sidecars")
    render.add_argument(
        "--first-port",
        type=int,
        default=FIRST_PORT,
        help=f"first port number (default {FIRST_PORT})",
    )
    render.set_defaults(func=run_render)


def render(topology_file: Path, out: Path | None, mode: MeshMode, first_port: int) -> list[Path]:
    """Write the compose file and its companions; the paths written."""
    from mesh_runtime.runtimes.docker.compose import compose_files, is_secret, render_plan
    from mesh_runtime.runtimes.docker.images import COMPOSE_DIR
    from mesh_runtime.topology import load_topology

    check_first_port(first_port)
    topology = load_topology(topology_file)
    cplan = render_plan(topology, str(topology_file), mode, first_port)
    target = out or COMPOSE_DIR / f"{topology.name}.compose.yaml"
    folder = target.parent
    token_file = folder / topology.name / "control-token"
    token = _existing_token(token_file) or secrets.token_urlsafe(24)
    written = []
    for relative, text in compose_files(cplan, token).items():
        path = target if relative.endswith(".compose.yaml") else folder / relative
        write_rendered(path, text, secret=is_secret(relative))
        written.append(path)
    return written


def write_rendered(path: Path, text: str, *, secret: bool) -> None:
    """One rendered file (its folder made as needed); a `secret` one owner-only (0600)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if secret:
            path.chmod(0o600)
    except OSError as exc:
        raise DeployError(f"{path}: cannot write: {exc.strerror}") from exc


def check_first_port(first_port: int) -> None:
    if not 1024 <= first_port <= 60000:
        raise InvalidInput("--first-port", "", f"expected 1024-60000, got {first_port}")


def _existing_token(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def run_render(args: argparse.Namespace) -> int:
    from harness.cli.console import make_console

    mode: MeshMode = "no-mesh" if args.no_mesh else "mesh"
    written = render(Path(args.topology), args.out, mode, args.first_port)
    console = make_console(highlight=True, soft_wrap=False)
    for path in written:
        console.print(f"wrote {path}")
    return 0
