"""`python -m mesh_runtime.sidecar`: the command line of one sidecar process."""

from __future__ import annotations

from mesh_runtime.sidecar import native

# First, before any module of the request path is imported: that path compiled with
# mypyc when a build of these sources exists, else the Python (see native.py).
native.activate()

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import uvloop

from mesh_runtime.errors import MeshproofError
from mesh_runtime.quantities import parse_duration
from mesh_runtime.sidecar.limits import HttpLimits
from mesh_runtime.sidecar.server import Sidecar, SidecarOptions
from mesh_runtime.sidecar.telemetry.dialects import METRICS_DIALECTS

PROG = "mesh_runtime.sidecar"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, exit code 2, no usage dump."""
        self.exit(2, f"{PROG}: error: {message}\n")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port 1-65535, got {text!r}")
    return int(text)


def _size(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of bytes, got {text!r}")
    return int(text)


def _otlp_url(text: str) -> str:
    """The OTLP/HTTP traces URL; a bare base URL gets '/v1/traces', as the SDK's env does."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"expected a URL like http://127.0.0.1:4318, got {text!r}")
    if parts.path in ("", "/"):
        return text.rstrip("/") + "/v1/traces"
    return text


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _tcp_outbound(text: str) -> tuple[str, int]:
    service, sep, port = text.partition("=")
    if not sep or not service.strip():
        raise argparse.ArgumentTypeError(f"expected SERVICE=PORT, got {text!r}")
    return service.strip(), _port(port.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="The meshproof sidecar (data plane).")
    parser.add_argument(
        "--tcp-outbound",
        type=_tcp_outbound,
        action="append",
        default=[],
        metavar="SERVICE=PORT",
        help="an outbound L4 listener for a `protocol: tcp` service the app calls (repeat)",
    )
    parser.add_argument(
        "--gateway-port",
        type=_port,
        help="also serve the outbound listener's routing on this port, bound on --host"
        " (the ingress's entry for load that names its destination: gRPC routes)",
    )
    parser.add_argument("--service", required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--version", default="v1")
    for name in ("inbound", "outbound", "app", "admin"):
        parser.add_argument(f"--{name}-port", type=_port, required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--control-plane", metavar="URL", help="http://127.0.0.1:PORT")
    source.add_argument("--config", type=Path, metavar="FILE", help="a static MeshConfig")
    parser.add_argument("--otlp-endpoint", type=_otlp_url, metavar="URL")
    parser.add_argument("--access-log", type=Path, metavar="FILE")
    parser.add_argument("--no-tracing", action="store_true")
    parser.add_argument("--drain-timeout", type=_duration, default=10.0, metavar="DURATION")
    parser.add_argument(
        "--max-body",
        type=_size,
        default=16 * 1024 * 1024,
        metavar="BYTES",
        help="largest request body buffered (default 16 MiB; more gets 413)",
    )
    parser.add_argument("--seed", type=int, help="seed the sidecar's random choices")
    parser.add_argument(
        "--metrics-dialect",
        choices=METRICS_DIALECTS,
        default="istio",
        help="names and labels of /metrics: istio (default), linkerd, or envoy (as "
        "Consul's sidecars); the mesh's own meshproof_* metrics are in every dialect",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="listen address of the inbound and admin listeners (default 127.0.0.1; "
        "0.0.0.0 in a container); the outbound listener is always on 127.0.0.1",
    )
    parser.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    _security_arguments(parser)
    return parser


def _security_arguments(parser: argparse.ArgumentParser) -> None:
    """mTLS identity, admin token, and the listeners' request limits and timeouts."""
    default = HttpLimits()
    parser.add_argument(
        "--bootstrap-token-file",
        type=Path,
        metavar="FILE",
        help="token for the control plane's CA; with it the sidecar gets a SPIFFE "
        "certificate and speaks mTLS (needs --control-plane)",
    )
    parser.add_argument(
        "--admin-token-file",
        type=Path,
        metavar="FILE",
        help="bearer token the admin /config_dump and /stats require",
    )
    sizes = {
        "max-header-bytes": default.max_header_bytes,
        "max-headers": default.max_headers,
        "max-uri-bytes": default.max_uri_bytes,
        "max-connections": default.max_connections,
        "h2-max-streams": default.h2_max_concurrent_streams,
        "h2-max-resets": default.h2_floods.resets_per_s,
    }
    for name, value in sizes.items():
        parser.add_argument(f"--{name}", type=_size, default=value, metavar="N")
    times = {
        "header-timeout": default.header_timeout,
        "request-timeout": default.request_timeout,
        "idle-timeout": default.idle_timeout,
    }
    for name, seconds in times.items():
        parser.add_argument(f"--{name}", type=_duration, default=seconds, metavar="DURATION")


def limits_from(args: argparse.Namespace) -> HttpLimits:
    return HttpLimits(
        max_header_bytes=args.max_header_bytes,
        max_headers=args.max_headers,
        max_uri_bytes=args.max_uri_bytes,
        max_body=args.max_body,
        header_timeout=args.header_timeout,
        request_timeout=args.request_timeout,
        idle_timeout=args.idle_timeout,
        max_connections=args.max_connections,
        h2_max_concurrent_streams=args.h2_max_streams,
        h2_floods=dataclasses.replace(HttpLimits().h2_floods, resets_per_s=args.h2_max_resets),
    )


def options_from(args: argparse.Namespace) -> SidecarOptions:
    return SidecarOptions(
        service=args.service,
        instance=args.instance,
        version=args.version,
        inbound_port=args.inbound_port,
        outbound_port=args.outbound_port,
        app_port=args.app_port,
        admin_port=args.admin_port,
        control_plane=args.control_plane,
        config_file=args.config,
        otlp_endpoint=args.otlp_endpoint,
        access_log=args.access_log,
        tracing=not args.no_tracing,
        drain_timeout=args.drain_timeout,
        max_body=args.max_body,
        seed=args.seed,
        metrics_dialect=args.metrics_dialect,
        host=args.host,
        bootstrap_token_file=args.bootstrap_token_file,
        admin_token_file=args.admin_token_file,
        limits=limits_from(args),
        tcp_outbound=tuple(args.tcp_outbound),
        gateway_port=args.gateway_port,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.bootstrap_token_file is not None and args.control_plane is None:
        parser.error("--bootstrap-token-file needs --control-plane (the CA is there)")
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s sidecar %(levelname)s %(message)s"
    )
    options = options_from(args)
    hot_path = "compiled (mypyc)" if native.running_compiled() else "Python"
    logging.getLogger(PROG).info("request path: %s", hot_path)
    try:
        return uvloop.run(Sidecar(options).run())
    except MeshproofError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
