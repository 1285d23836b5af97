"""`python -m mesh_runtime.tracesink --port P --out spans.jsonl [--forward URL]`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from mesh_runtime.serve import serve
from mesh_runtime.tracesink.forward import BadForwardUrl, Forwarder, forward_url
from mesh_runtime.tracesink.server import SpanWriter, TraceSink


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mesh_runtime.tracesink",
        description="OTLP/HTTP trace receiver: every span becomes one JSON line in --out.",
    )
    parser.add_argument("--port", type=int, required=True, help="listen port")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--out", required=True, help="JSON lines file the spans are appended to")
    parser.add_argument(
        "--forward",
        default=None,
        metavar="URL",
        help="also send every span on to this OTLP/HTTP endpoint (in the background; spans"
        " are dropped and counted when it cannot keep up)",
    )
    parser.add_argument(
        "--forward-attribute",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a resource attribute every forwarded span gets (repeatable)",
    )
    return parser


def _forwarder(args: argparse.Namespace) -> Forwarder | None:
    """The --forward options as a Forwarder; BadForwardUrl names what is wrong."""
    if args.forward is None:
        if args.forward_attribute:
            raise BadForwardUrl("--forward-attribute needs --forward")
        return None
    attributes: dict[str, str] = {}
    for pair in args.forward_attribute:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadForwardUrl(f"--forward-attribute: expected KEY=VALUE, got {pair!r}")
        attributes[key] = value
    return Forwarder(forward_url(args.forward), attributes)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s tracesink %(message)s")
    try:
        forwarder = _forwarder(args)
    except BadForwardUrl as exc:
        print(f"trace sink: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.is_dir():
        print(f"trace sink: {out}: is a directory, expected a file", file=sys.stderr)
        return 2
    return serve(
        "trace sink",
        TraceSink(SpanWriter(out), forwarder).app(),
        args.host,
        args.port,
        shutdown_timeout=2.0,
        problem=lambda exc: f"cannot listen on {args.host}:{args.port} or write {out}: {exc}",
    )


if __name__ == "__main__":
    sys.exit(main())
