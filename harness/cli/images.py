"""`meshproof images build`: the docker runtime's images, from local parts only.

Builds meshproof/mesh (compose/Dockerfile: sidecar, control plane, services, trace sink;
Python wheels from a wheelhouse `pip wheel` makes on the host) and meshproof/toxiproxy
(the toxiproxy-server `make setup` built), on a base image already in the engine
(default meshproof/base:bookworm, made by compose/make-base-image.sh). Nothing is pulled.
An image whose content did not change is not built again.
"""

from __future__ import annotations

import argparse
from typing import Any

from harness.cli.commands import add_command


def register(subparsers: Any) -> None:
    images = add_command(
        subparsers,
        "images",
        "build the docker runtime's images",
        "The images of the docker runtime (`--runtime docker`). One action: build.",
    )
    actions = images.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    build = add_command(
        actions,
        "build",
        "build meshproof/mesh and meshproof/toxiproxy (cached by content)",
        __doc__,
    )
    build.add_argument(
        "--base",
        default=None,
        metavar="IMAGE",
        help="base image with python3.11 and its venv module (default: the one named above)",
    )
    build.add_argument("--rebuild", action="store_true", help="build even if the tag exists")
    build.add_argument(
        "--load",
        action="store_true",
        help="also meshproof/load (Locust workers as pods of the kubernetes runtime)",
    )
    build.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from harness.cli.console import make_console
    from mesh_runtime.runtimes.docker.engine import connect
    from mesh_runtime.runtimes.docker.images import BASE_IMAGE, ImageBuilder, stable_tag

    console = make_console(stderr=True, highlight=True, soft_wrap=False)
    with console.status("building images") as status:
        builder = ImageBuilder(
            connect(),
            base=args.base or BASE_IMAGE,
            progress=lambda message: status.update(message),
        )
        images = builder.ensure(rebuild=args.rebuild)
        load = builder.ensure_load() if args.load else None
    out = make_console(highlight=True, soft_wrap=False)
    out.print(f"mesh       {images.mesh}  (also {stable_tag('mesh')})")
    out.print(f"toxiproxy  {images.toxiproxy}  (also {stable_tag('toxiproxy')})")
    if load is not None:
        out.print(f"load       {load}  (also {stable_tag('load')})")
    return 0
