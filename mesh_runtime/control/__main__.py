"""`python -m mesh_runtime.control --config CONFIG.json --port P --token-file F`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import uvloop
from aiohttp import web

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.control.server import ControlPlaneAPI
from mesh_runtime.control.state_file import load_state, save_state
from mesh_runtime.control.store import DEFAULT_HISTORY, ConfigStore
from mesh_runtime.errors import InvalidInput, MeshproofError
from mesh_runtime.validation import load_model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mesh_runtime.control",
        description="meshproof control plane: serves the versioned MeshConfig to sidecars.",
    )
    parser.add_argument("--config", required=True, help="the initial MeshConfig (JSON or YAML)")
    parser.add_argument("--port", type=int, required=True, help="listen port")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--token-file", required=True, help="file holding the bearer token for writes"
    )
    parser.add_argument(
        "--state-file",
        help="where the current config is saved on every change; a restart resumes from it",
    )
    parser.add_argument(
        "--history", type=int, default=DEFAULT_HISTORY, help="config versions to keep"
    )
    return parser


def read_token(path: str) -> str:
    """The bearer token from its file; an empty or unreadable file is an InvalidInput."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InvalidInput(path, "", f"cannot read token file: {exc.strerror}") from None
    if not token:
        raise InvalidInput(path, "", "token file is empty")
    return token


def build_api(args: argparse.Namespace) -> ControlPlaneAPI:
    """The API over the initial config, or over the saved state when there is one."""
    config = load_model(args.config, MeshConfig)
    token = read_token(args.token_file)
    if not args.state_file:
        return ControlPlaneAPI(ConfigStore(config, history=args.history), token)
    state_file = Path(args.state_file)
    config = load_state(state_file) or config
    store = ConfigStore(config, history=args.history)
    save_state(state_file, store.current)
    return ControlPlaneAPI(store, token, on_change=partial(save_state, state_file))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s control %(message)s")
    try:
        api = build_api(args)
    except MeshproofError as exc:
        print(f"control plane: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"control plane: cannot write {args.state_file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        web.run_app(
            api.app(),
            host=args.host,
            port=args.port,
            print=None,
            access_log=None,
            shutdown_timeout=1.0,
            loop=uvloop.new_event_loop(),
        )
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        print(f"control plane: cannot listen on {where}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
