"""The control plane's HTTP API on aiohttp: long-poll config, status, policy writes.

Routes (DEVELOPING.md, "Control plane API"):

    GET   /ready
    GET   /v1/config?version=N&wait=S&sidecar=ID&service=SVC
                                                     long poll; 304 after S seconds
                                                     (no sidecar, no service: the whole
                                                     config, egress lists included)
    GET   /v1/config/status
    PUT   /v1/config                                 whole MeshConfig (bearer token)
    PUT   /v1/services/{service}/policy              whole ServicePolicy (bearer token)
    PATCH /v1/services/{service}/policy              JSON merge patch (bearer token)
    POST  /v1/certificates                           CSR -> leaf (the service's credential)
    GET   /v1/certificates/root                      the CA's root certificate (PEM)

A sidecar that names its service gets that service's scope of the config (its own entry
and its egress services', mesh_runtime.config.scope), and a long poll answers only when
that scope changed: a change to catalog wakes catalog's sidecars and its callers' only.

All state lives in a ConfigStore; this module only carries bytes to and from it. Writes
are taken only from the `writers` networks (loopback by default) and with the token.

With a `ConfigSource` (Istio objects in Kubernetes, `kube_source.IstioSource`) the
policies come from it: `/ready` answers 503 until its first configuration is served, the
status has its part under `kubernetes`, and the three writes answer 409 (change the
source's objects instead).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from mesh_runtime.config.mesh import MeshConfig
from mesh_runtime.config.scope import Scope, scope_of, sidecar_json
from mesh_runtime.config.security import spiffe_id
from mesh_runtime.content_encoding import ENCODINGS, TooLarge, Undecodable, undo_encoding
from mesh_runtime.control.ca import CertificateAuthority
from mesh_runtime.control.credentials import credential_holder
from mesh_runtime.control.store import MAX_VERSION, ConfigStore, UnknownService
from mesh_runtime.errors import InvalidInput

log = logging.getLogger("meshproof.control")

MAX_WAIT_S = 300.0
"""Longest long poll a client may ask for."""

MAX_BODY_BYTES = 1024**2
"""Largest body a write may have, as sent and once decoded (aiohttp's default limit)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


@dataclass(frozen=True)
class CertificateIssuer:
    """The CA and the secret the services' bootstrap credentials derive from."""

    ca: CertificateAuthority
    bootstrap_secret: str


class ConfigSource(Protocol):
    """Where the policies come from instead of the write API (see kube_source.IstioSource)."""

    @property
    def name(self) -> str: ...

    def start(self, changed: Callable[[], None]) -> None:
        """Begin watching; `changed()` may be called from any thread."""

    def stop(self) -> None: ...

    def configure(self, current: MeshConfig) -> MeshConfig | None:
        """The configuration the source describes over `current`; None while not synced."""

    def applied(self, version: int) -> None:
        """The control plane now serves the source's configuration as `version`."""

    def status(self) -> dict[str, Any]: ...


class ConfigNotifier:
    """Wakes every long-poll waiter at once when the configuration changes (each then
    checks whether its own scope changed: cheap beside what a sidecar does with a config)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def changed(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """True when a change happened within `timeout` seconds."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True


class ControlPlaneAPI:
    """Request handlers over one ConfigStore; writes need the bearer token."""

    def __init__(
        self,
        store: ConfigStore,
        token: str,
        on_change: Callable[[MeshConfig], None] | None = None,
        issuer: CertificateIssuer | None = None,
        writers: Sequence[Network] | None = LOOPBACK,
        source: ConfigSource | None = None,
    ) -> None:
        self._store = store
        self._token = token.encode()
        self._on_change = on_change
        self._issuer = issuer
        self._writers = writers
        """Networks writes may come from; None: any (the token is still required)."""
        self._notifier = ConfigNotifier()
        self._bodies: tuple[int, dict[Scope, bytes]] = (-1, {})
        self._source = source
        self._source_served = False
        self._source_pending = False
        self._source_refused = ""
        """Why the store refused the source's last change ('' once one was applied)."""

    def app(self) -> web.Application:
        # bodies are decoded by `content_encoding.undo_encoding`, capped, not in aiohttp's
        # parser (a body that was not the gzip it said was a 500 there)
        app = web.Application(
            middlewares=[_errors_middleware],
            client_max_size=MAX_BODY_BYTES,
            handler_args={"auto_decompress": False},
        )
        app.router.add_get("/ready", self.ready)
        app.router.add_get("/v1/config", self.get_config)
        app.router.add_get("/v1/config/status", self.status)
        app.router.add_put("/v1/config", self.put_config)
        app.router.add_put("/v1/services/{service}/policy", self.put_policy)
        app.router.add_patch("/v1/services/{service}/policy", self.patch_policy)
        app.router.add_post("/v1/certificates", self.sign_certificate)
        app.router.add_get("/v1/certificates/root", self.root_certificate)
        if self._source is not None:
            app.on_startup.append(self._start_source)
            app.on_cleanup.append(self._stop_source)
        return app

    async def ready(self, request: web.Request) -> web.Response:
        reason = self.not_ready()
        if reason:
            return web.json_response({"ready": False, "reason": reason}, status=503)
        return web.json_response({"ready": True, "version": self._store.version})

    def not_ready(self) -> str:
        """Why the control plane is not ready ('' when it is): a source's first
        configuration not served yet, and why the store refused it if it did."""
        if self._source is None or self._source_served:
            return ""
        reason = f"waiting for the first configuration from {self._source.name}"
        if self._source_refused:
            reason = f"{reason}; its last was refused: {self._source_refused}"
        return reason

    # --- the configuration source -------------------------------------------------------

    async def _start_source(self, app: web.Application) -> None:
        assert self._source is not None
        loop = asyncio.get_running_loop()

        def changed() -> None:  # from a watch thread: one sync queued at a time
            if not self._source_pending:
                self._source_pending = True
                loop.call_soon_threadsafe(self.sync_source)

        self._source.start(changed)

    async def _stop_source(self, app: web.Application) -> None:
        if self._source is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._source.stop)

    def sync_source(self) -> None:
        """Serve what the source describes now (a new version only when it differs).

        A change the store refuses (past MAX_VERSION, or not valid) is logged as one line
        and not applied: the current version stays in force and stays served."""
        self._source_pending = False
        source = self._source
        if source is None:
            return
        wanted = source.configure(self._store.current)
        if wanted is None:
            return
        if _same(wanted, self._store.current):
            source.applied(self._store.version)
        else:
            try:
                config = self._store.replace(wanted, source="kubernetes")
            except InvalidInput as exc:  # a loop callback: an exception would be a traceback
                self._source_refused = str(exc)
                log.error(
                    "configuration from %s not applied (version %d stays in force): %s",
                    source.name,
                    self._store.version,
                    exc,
                )
                return
            source.applied(config.version)
            self._publish(config, f"from {source.name}")
        self._source_served = True
        self._source_refused = ""

    async def get_config(self, request: web.Request) -> web.Response:
        known = _version(request)
        wait = min(_number(request, "wait", float, 0.0), MAX_WAIT_S)
        sidecar = request.query.get("sidecar")
        service = request.query.get("service") or None
        if sidecar and self._store.record_sidecar(sidecar, max(known, 0), service):
            self._publish(self._store.current, f"re-issued above version {known} of {sidecar}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while self._store.changed_at(service) <= known:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return web.Response(status=304)
            await self._notifier.wait(remaining)
        body = self._config_body(service) if sidecar or service else self._whole_body()
        return web.Response(body=body, content_type="application/json")

    async def status(self, request: web.Request) -> web.Response:
        status = self._store.status()
        if self._source is not None:
            status["kubernetes"] = self._source.status()
        return web.json_response(status)

    async def put_config(self, request: web.Request) -> web.Response:
        self._authorize(request)
        config = self._store.replace(await _json_body(request))
        return self._changed(config, "whole configuration replaced")

    async def put_policy(self, request: web.Request) -> web.Response:
        self._authorize(request)
        service = request.match_info["service"]
        config = self._store.put_policy(service, await _json_body(request))
        return self._changed(config, f"policy of {service} replaced", service)

    async def patch_policy(self, request: web.Request) -> web.Response:
        self._authorize(request)
        service = request.match_info["service"]
        config = self._store.patch_policy(service, await _json_body(request))
        return self._changed(config, f"policy of {service} patched", service)

    async def sign_certificate(self, request: web.Request) -> web.Response:
        """A leaf certificate for the CSR, with the SPIFFE ID of the credential's service."""
        issuer = self._require_issuer()
        holder = credential_holder(issuer.bootstrap_secret, _bearer(request))
        if holder is None:
            raise _unauthorized("a service's bootstrap credential")
        data = await _json_body(request)
        if not isinstance(data, dict):
            raise InvalidInput("body", "", "expected a JSON object {csr, service, instance}")
        csr, service = data.get("csr"), data.get("service")
        if not isinstance(csr, str) or not isinstance(service, str):
            raise InvalidInput("body", "", "expected string fields 'csr' and 'service'")
        instance = str(data.get("instance", "?"))
        if holder != service:
            log.warning(
                "refused %s a certificate for %s: its credential is %s's", instance, service, holder
            )
            raise _forbidden(f"the credential of {holder} cannot get a certificate for {service}")
        self._store.policy(service)  # UnknownService (404) for a service the mesh lacks
        identity = spiffe_id(self._store.current.mesh.trustDomain, service)
        issued = issuer.ca.sign(csr.encode("ascii", "replace"), identity)
        log.info(
            "issued %s (serial %x, %.0fs) to %s",
            identity,
            issued.serial,
            issuer.ca.leaf_lifetime_s,
            instance,
        )
        return web.json_response(
            {
                "certificate": issued.certificate.decode("ascii"),
                "root": issued.root.decode("ascii"),
                "spiffe_id": issued.spiffe_id,
                "serial": f"{issued.serial:x}",
                "not_after": issued.not_after,
            }
        )

    async def root_certificate(self, request: web.Request) -> web.Response:
        issuer = self._require_issuer()
        return web.Response(body=issuer.ca.root_pem, content_type="application/x-pem-file")

    def _require_issuer(self) -> CertificateIssuer:
        if self._issuer is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "this control plane runs no CA (see --ca-dir)"}),
                content_type="application/json",
            )
        return self._issuer

    def _authorize(self, request: web.Request) -> None:
        """A write: from an allowed network, with the bearer token, and no source."""
        if self._writers is not None and not _from_any(request.remote, self._writers):
            raise _forbidden("writes are accepted only from loopback")
        if not hmac.compare_digest(_bearer(request).encode(), self._token):
            raise _unauthorized("the control plane's token")
        if self._source is not None:
            problem = (
                f"this control plane takes its policies from {self._source.name}; change those"
            )
            raise web.HTTPConflict(
                text=json.dumps({"error": problem}), content_type="application/json"
            )

    def _changed(self, config: MeshConfig, what: str, service: str | None = None) -> web.Response:
        self._publish(config, what)
        body: dict[str, Any] = {"version": config.version}
        if service is not None:
            body["service"] = service
            body["policy"] = config.services[service].policy.model_dump(mode="json")
        return web.json_response(body)

    def _publish(self, config: MeshConfig, what: str) -> None:
        """Persist the new version, then wake every long poll."""
        if self._on_change is not None:
            try:
                self._on_change(config)
            except OSError as exc:
                log.error("could not save config version %d: %s", config.version, exc)
        self._notifier.changed()
        log.info("config version %d: %s", config.version, what)

    def _config_body(self, service: str | None) -> bytes:
        """The current config of `service`'s scope as JSON, serialised once per version and
        scope however many sidecars poll it (the whole config once for every unscoped one)."""
        version, bodies = self._bodies
        if version != self._store.version:
            bodies = {}
            self._bodies = (self._store.version, bodies)
        scope = scope_of(self._store.current, service)
        body = bodies.get(scope)
        if body is None:
            body = bodies[scope] = sidecar_json(self._store.current, service)
        return body

    def _whole_body(self) -> bytes:
        """The current config as a reader other than a sidecar gets it: whole, with the
        egress lists (what `PUT /v1/config` takes back: a read, edit and write keeps the
        mesh scoped)."""
        return self._store.current.model_dump_json().encode()


def _same(one: MeshConfig, other: MeshConfig) -> bool:
    """The same configuration, whatever the versions."""
    return one.model_copy(update={"version": 0}) == other.model_copy(update={"version": 0})


def _bearer(request: web.Request) -> str:
    """The token of an `Authorization: Bearer` header ('' when there is none, or when it
    is not ASCII: no token or credential is, and aiohttp hands other bytes in as lone
    surrogates, which no comparison may encode)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    token = given.strip() if scheme.lower() == "bearer" else ""
    return token if token.isascii() else ""


def _unauthorized(what: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=json.dumps({"error": f"'Authorization: Bearer <{what}>' is required"}),
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="meshproof"'},
    )


def _forbidden(problem: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=json.dumps({"error": problem}), content_type="application/json")


def _from_any(remote: str | None, networks: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address((remote or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


@web.middleware
async def _errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Exception tree -> HTTP: unknown service 404, other bad input 400, one JSON line."""
    try:
        return await handler(request)
    except UnknownService as exc:
        return web.json_response({"error": f"unknown service {exc.path!r}"}, status=404)
    except InvalidInput as exc:
        text = f"{exc.path}: {exc.problem}" if exc.path else exc.problem
        return web.json_response({"error": text}, status=400)


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await _body(request))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", "", f"not valid JSON: {exc}") from None
    except RecursionError:  # json's decoder nests a call per array or object
        raise InvalidInput("body", "", "JSON nested too deeply") from None


async def _body(request: web.Request) -> bytes:
    """The request's body undone of its Content-Encoding: 415 for an encoding we do not
    take, 400 for a body that is not the encoding it says, 413 when too large decoded."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ENCODINGS:
        problem = f"unsupported Content-Encoding {encoding!r} (identity, gzip or deflate)"
        raise web.HTTPUnsupportedMediaType(
            text=json.dumps({"error": problem}), content_type="application/json"
        )
    try:
        return undo_encoding(await request.read(), encoding, MAX_BODY_BYTES)
    except Undecodable as exc:
        raise InvalidInput("body", "", f"Content-Encoding {encoding}: {exc}") from None
    except TooLarge as exc:
        raise web.HTTPRequestEntityTooLarge(
            MAX_BODY_BYTES,
            MAX_BODY_BYTES + 1,
            text=json.dumps({"error": f"body: {exc}"}),
            content_type="application/json",
        ) from None


def _version(request: web.Request) -> int:
    """The `version` a poll reports: -1 (none yet, also when absent) up to MAX_VERSION,
    written in ASCII digits; anything else is 400 before it can move the store's version."""
    raw = request.query.get("version", "")
    if raw == "":
        return -1
    digits = raw.removeprefix("-")  # int() would also take '+1', '1_0', ' 1', Unicode digits
    value = int(raw) if digits.isascii() and digits.isdigit() and len(digits) <= 16 else None
    if value is None or not -1 <= value <= MAX_VERSION:
        problem = f"expected an integer from -1 to {MAX_VERSION}, got {raw[:40]!r}"
        raise InvalidInput("query", "version", problem)
    return value


def _number(request: web.Request, name: str, kind: type[Any], default: Any) -> Any:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise InvalidInput("query", name, f"expected a number, got {raw!r}") from None
    if kind is float and (value != value or value < 0):
        raise InvalidInput("query", name, f"expected a non-negative number, got {raw!r}")
    return value
