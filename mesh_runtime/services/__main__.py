"""`python -m mesh_runtime.services --service S --instance S-0 --port P [--calls a,b] ...`."""

from __future__ import annotations

from mesh_runtime.sidecar import native

# First, before the sidecar's request-path modules (the apps serve and call on them) are
# imported: their mypyc build when one of these sources exists, as in the sidecar.
native.activate()

import argparse
import random
import sys
from collections.abc import Sequence
from typing import cast

from mesh_runtime.services.app import ShopService
from mesh_runtime.services.calls import Downstream, Targets, parse_direct
from mesh_runtime.services.http_serve import serve_http
from mesh_runtime.services.rpc_serve import serve_grpc
from mesh_runtime.services.rpc_server import GrpcShopService
from mesh_runtime.services.tracing import ServiceIdentity, ServiceTracer, traces_url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mesh_runtime.services",
        description="One instance of a meshproof sample shop service.",
    )
    parser.add_argument("--service", required=True, help="service name, e.g. catalog")
    parser.add_argument("--instance", required=True, help="instance name, e.g. catalog-0")
    parser.add_argument("--version", default="v1", help="service version (default v1)")
    parser.add_argument("--port", type=int, required=True, help="listen port")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--calls", default="", help="services to call for each request, in order")
    parser.add_argument("--via", help="mesh mode: the sidecar's outbound listener host:port")
    parser.add_argument(
        "--direct",
        action="append",
        default=[],
        metavar="SERVICE=HOST:PORT[,HOST:PORT]",
        help="no-mesh mode: addresses of a called service (repeat per service)",
    )
    parser.add_argument(
        "--tcp",
        action="append",
        default=[],
        metavar="SERVICE=HOST:PORT[,HOST:PORT]",
        help="a `protocol: tcp` callee: its sidecar listener (mesh) or instances (repeat)",
    )
    parser.add_argument(
        "--protocol",
        choices=("http", "grpc"),
        default="http",
        help="what this instance serves: HTTP/1.1 (default) or gRPC (grpcio, HTTP/2)",
    )
    parser.add_argument(
        "--grpc",
        default="",
        metavar="SERVICES",
        help="the callees among --calls that are `protocol: grpc` services (comma list)",
    )
    parser.add_argument("--otlp-endpoint", help="OTLP/HTTP traces endpoint (none: no export)")
    parser.add_argument(
        "--call-timeout", type=float, default=10.0, help="downstream call timeout, s (default 10)"
    )
    parser.add_argument("--seed", type=int, help="seed of the behaviour's random choices")
    return parser


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def build_service(args: argparse.Namespace) -> ShopService | GrpcShopService:
    """The service the arguments describe; a ValueError names what is wrong."""
    calls = _names(args.calls)
    grpc = _names(args.grpc)
    if set(grpc) - set(calls):
        raise ValueError(f"--grpc names {', '.join(sorted(set(grpc) - set(calls)))} not in --calls")
    targets = Targets(args.via, parse_direct(args.direct), parse_direct(args.tcp), grpc)
    missing = targets.missing(calls)
    if missing:
        raise ValueError(f"no --via and no --direct address for {', '.join(missing)}")
    if args.call_timeout <= 0:
        raise ValueError("--call-timeout must be positive")
    if args.otlp_endpoint:
        traces_url(args.otlp_endpoint)
    identity = ServiceIdentity(args.service, args.instance, args.version)
    kind = GrpcShopService if args.protocol == "grpc" else ShopService
    return kind(
        identity,
        calls,
        Downstream(targets, args.call_timeout),
        ServiceTracer(identity, args.otlp_endpoint),
        random.Random(args.seed),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        service = build_service(args)
    except ValueError as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 2
    if isinstance(service, GrpcShopService):
        return serve_grpc(service, args.host, args.port)
    shop = cast(ShopService, service)  # grpc's handler base is untyped: mypy cannot narrow
    return serve_http(
        shop.handle,
        args.host,
        args.port,
        shutdown_timeout=2.0,
        on_start=shop.start,
        on_stop=shop.stop,
    )


if __name__ == "__main__":
    sys.exit(main())
