"""`python -m mesh_runtime.control --config CONFIG.json --port P --token-file F`.

With `--ca-dir DIR` it also runs the mesh's certificate authority: the root is kept in DIR,
and a sidecar showing its service's bootstrap credential (HMAC-SHA256 of the secret in
`--bootstrap-secret-file`, made on first start when missing, and the service's name; see
`mesh_runtime.control.credentials`) gets a short-lived SPIFFE certificate of that service
(`--cert-lifetime`, default 1h).

With `--kubeconfig F --namespace NS [--kube-context C]` the policies come from the Istio
objects (VirtualService, DestinationRule, PeerAuthentication, AuthorizationPolicy) of that
namespace, watched in the API server (`mesh_runtime.control.kube_source`); CONFIG.json
then gives only the services, their endpoints and the trust domain.

The current config outlives the process in `--state-file F` or, on the kubernetes
runtime, in `--state-configmap NAMESPACE/NAME` (read and written as the pod's
ServiceAccount; `mesh_runtime.control.state_configmap`): a restart resumes from it.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.control.ca import CertificateAuthority
from mesh_runtime.control.server import (
    LOOPBACK,
    CertificateIssuer,
    ConfigSource,
    ControlPlaneAPI,
    Network,
)
from mesh_runtime.control.state_file import DurableState, FileState
from mesh_runtime.control.store import DEFAULT_HISTORY, ConfigStore
from mesh_runtime.errors import InvalidInput, MeshproofError
from mesh_runtime.serve import serve
from mesh_runtime.units import parse_duration
from mesh_runtime.validation import load_model

OnChange = Callable[[MeshConfig], None]

BOOTSTRAP_SECRET = "bootstrap-secret"
"""The secret's file in the CA directory when --bootstrap-secret-file is not given."""


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
        "--state-configmap",
        metavar="NAMESPACE/NAME",
        help="keep the current config in this ConfigMap instead (in a pod: as its "
        "ServiceAccount); a new pod resumes from it",
    )
    parser.add_argument(
        "--history", type=int, default=DEFAULT_HISTORY, help="config versions to keep"
    )
    parser.add_argument("--ca-dir", help="run the mesh CA; its root is kept in this directory")
    parser.add_argument(
        "--bootstrap-secret-file",
        help="secret the services' bootstrap credentials derive from (default "
        "CA_DIR/bootstrap-secret; made when missing)",
    )
    parser.add_argument(
        "--cert-lifetime", default="1h", help="lifetime of issued certificates (default 1h)"
    )
    parser.add_argument(
        "--allow-writes-from",
        help="comma-separated networks writes are taken from (default: loopback; "
        "'any' when --host is not a loopback address); the token is always required",
    )
    parser.add_argument(
        "--kubeconfig", help="take the policies from Istio objects in this cluster (kubeconfig)"
    )
    parser.add_argument("--kube-context", help="kubeconfig context (default: its current one)")
    parser.add_argument(
        "--namespace",
        help="the namespace whose Istio objects configure the mesh (needs --kubeconfig)",
    )
    return parser


def build_source(args: argparse.Namespace) -> ConfigSource | None:
    """The Kubernetes source when --kubeconfig is given; bad flags are InvalidInput."""
    if not args.kubeconfig:
        if args.namespace or args.kube_context:
            raise InvalidInput(
                "--namespace" if args.namespace else "--kube-context", "", "needs --kubeconfig"
            )
        return None
    if not args.namespace:
        raise InvalidInput("--kubeconfig", "", "needs --namespace")
    from mesh_runtime.control.kube_api import IstioApi
    from mesh_runtime.control.kube_source import IstioSource

    return IstioSource(IstioApi.connect(Path(args.kubeconfig), args.kube_context, args.namespace))


def read_or_make_token(path: Path) -> str:
    """The token in `path`, or a new random one written there (0600) when it is missing."""
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return read_token(str(path))
        except OSError as exc:
            raise InvalidInput(str(path), "", f"cannot create token file: {exc.strerror}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    return read_token(str(path))


def build_issuer(args: argparse.Namespace) -> CertificateIssuer | None:
    if not args.ca_dir:
        if args.bootstrap_secret_file:
            raise InvalidInput("--bootstrap-secret-file", "", "needs --ca-dir")
        return None
    try:
        lifetime = parse_duration(args.cert_lifetime)
    except ValueError as exc:
        raise InvalidInput("--cert-lifetime", "", str(exc)) from None
    if lifetime <= 0:
        raise InvalidInput("--cert-lifetime", "", "expected a positive duration")
    ca_dir = Path(args.ca_dir)
    ca = CertificateAuthority.load_or_create(ca_dir, leaf_lifetime_s=lifetime)
    secret_file = Path(args.bootstrap_secret_file or ca_dir / BOOTSTRAP_SECRET)
    return CertificateIssuer(ca, read_or_make_token(secret_file))


def writers_of(args: argparse.Namespace) -> tuple[Network, ...] | None:
    """Where writes may come from: the flag, else loopback (any for a non-loopback host)."""
    text = args.allow_writes_from
    if text is None:
        loopback = args.host in ("127.0.0.1", "::1", "localhost")
        return LOOPBACK if loopback else None
    if text.strip() == "any":
        return None
    try:
        return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part)
    except ValueError as exc:
        raise InvalidInput("--allow-writes-from", "", str(exc)) from None


def read_token(path: str) -> str:
    """The bearer token from its file; an empty or unreadable file is an InvalidInput."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InvalidInput(path, "", f"cannot read token file: {exc.strerror}") from None
    if not token:
        raise InvalidInput(path, "", "token file is empty")
    return token


def build_state(args: argparse.Namespace) -> tuple[DurableState, OnChange] | None:
    """Where the state is kept, and what saves a change (off the event loop for a
    ConfigMap: a round trip to the API server); None without either flag."""
    if args.state_file and args.state_configmap:
        raise InvalidInput("--state-configmap", "", "give --state-file or --state-configmap")
    if args.state_file:
        state = FileState(Path(args.state_file))
        return state, state.save
    if not args.state_configmap:
        return None
    from mesh_runtime.control.incluster import ConfigMapApi
    from mesh_runtime.control.state_configmap import ConfigMapState, LatestWriter, parse_reference

    namespace, name = parse_reference(args.state_configmap)
    configmap = ConfigMapState(ConfigMapApi.in_pod(), namespace, name)
    return configmap, LatestWriter(configmap.save, f"the config in {configmap}")


def build_api(args: argparse.Namespace) -> ControlPlaneAPI:
    """The API over the initial config, or over the saved state when there is one."""
    config = load_model(args.config, MeshConfig)
    token = read_token(args.token_file)
    issuer = build_issuer(args)
    writers = writers_of(args)
    source = build_source(args)
    kept = build_state(args)
    if kept is None:
        store = ConfigStore(config, history=args.history)
        return ControlPlaneAPI(store, token, issuer=issuer, writers=writers, source=source)
    state, on_change = kept
    store = ConfigStore(state.load() or config, history=args.history)
    state.save(store.current)
    return ControlPlaneAPI(
        store, token, on_change=on_change, issuer=issuer, writers=writers, source=source
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s control %(message)s")
    try:
        api = build_api(args)
    except MeshproofError as exc:
        print(f"control plane: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"control plane: cannot write {args.state_file}: {exc.strerror}", file=sys.stderr)
        return 2
    return serve("control plane", api.app(), args.host, args.port, shutdown_timeout=1.0)


if __name__ == "__main__":
    sys.exit(main())
