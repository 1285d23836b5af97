"""The sidecar's workload identity: its key, its certificate from the control plane, renewal.

The sidecar makes an EC P-256 key, sends a CSR with the bootstrap token to
`POST /v1/certificates` and builds its TLS contexts from the answer. It renews at half
the certificate's lifetime, moved by up to `RENEW_JITTER` of the lifetime either way
(Istio's SECRET_GRACE_PERIOD_RATIO 0.5 with its jitter), with a key made ahead at a
random moment of the first quarter of the wait (`key_due`); a failed renewal is
retried with backoff while the old certificate stays in use, so traffic is never dropped
for a renewal. New connections take the new contexts; open ones go on.

Without the jitter, the sidecars of a mesh started together renew in the same second, and
their key children with them: a burst of CPU on every sidecar at once, which backed up
requests and made the pools open hundreds of mTLS connections. Each sidecar's child now
runs at a moment of its own, at a lower priority than the data path (keygen.py), long
before the renewal that needs it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from mesh_runtime.errors import ControlPlaneError, InvalidInput
from mesh_runtime.sidecar.config_watch import parse_control_plane_url
from mesh_runtime.sidecar.http_client import control_plane_request, request_head
from mesh_runtime.sidecar.keygen import key_and_csr_in_child
from mesh_runtime.sidecar.tls import Credentials

# Keys and CSRs are made by a child process (keygen.py): `cryptography` would stay 8 MB
# resident in the sidecar for its whole life, for a moment's work every renewal. The
# child costs about 0.1 s of CPU, at a lower priority than the sidecar.

log = logging.getLogger(__name__)

RENEW_AT = 0.5
"""Share of a certificate's lifetime after which it is renewed."""
RENEW_JITTER = 0.05
"""The most the renewal moves either way, as a share of the lifetime. Istio's default
jitter is 0.01 of its 24 h certificates (+-14 min); the mesh's leaves last 1 h, where
0.01 would be +-36 s, so 0.05: +-3 min (+-12 s for a soak's 4 min certificates)."""
KEY_BY = 0.25
"""The next key is made within this share of the wait for the renewal: spread over 7.5
minutes of a 1 h certificate's 30, and early enough that a child slowed by a busy host
(at its lower priority) is done before a 6 s test certificate's renewal."""
RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0
REQUEST_TIMEOUT_S = 10.0


def renewal_due(
    issued_at: float, not_after: float, rng: random.Random, jitter: float = RENEW_JITTER
) -> float:
    """When (epoch s) the certificate valid from `issued_at` to `not_after` is due for
    renewal: at `RENEW_AT` of its lifetime, moved by a uniform draw from `rng` of up to
    `jitter` of the lifetime either way (never before issue nor after expiry)."""
    share = RENEW_AT + jitter * (2.0 * rng.random() - 1.0)
    return issued_at + (not_after - issued_at) * min(1.0, max(0.0, share))


def key_due(issued_at: float, due: float, rng: random.Random) -> float:
    """When (epoch s) to make the key for the renewal due at `due` of a certificate issued
    at `issued_at`: a uniform draw from `rng` over the first `KEY_BY` of the wait."""
    return issued_at + max(0.0, due - issued_at) * KEY_BY * rng.random()


def retry_delay(failures: int, until_expiry: float, rng: random.Random) -> float:
    """Backoff after `failures` failed renewals: capped, jittered, well before expiry."""
    ceiling = min(RETRY_MAX_S, RETRY_MIN_S * 2 ** min(failures, 8))
    if until_expiry > 0:
        ceiling = min(ceiling, max(RETRY_MIN_S, until_expiry / 4))
    return ceiling * (0.5 + 0.5 * rng.random())


def read_token_file(path: str, what: str = "bootstrap token") -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError as exc:
        raise InvalidInput(path, "", f"cannot read {what}: {exc.strerror}") from None
    if not token:
        raise InvalidInput(path, "", f"{what} file is empty")
    return token


class CertificateClient:
    """Asks the control plane's CA for a certificate for a new key."""

    def __init__(self, control_plane: str, token: str, service: str, instance: str) -> None:
        self._host, self._port = parse_control_plane_url(control_plane)
        self._token = token
        self.service = service
        self.instance = instance
        self._next_key: asyncio.Task[tuple[bytes, bytes]] | None = None

    def prepare_key(self) -> None:
        """Start making the next fetch's key and CSR now (a child process), unless one is
        made or being made already."""
        if self._next_key is None:
            loop = asyncio.get_running_loop()
            self._next_key = loop.create_task(key_and_csr_in_child(self.service))

    def drop_prepared_key(self) -> None:
        if self._next_key is not None:
            self._next_key.cancel()
            self._next_key = None

    async def fetch(self, clock: Callable[[], float] = time.time) -> Credentials:
        """A certificate for the prepared key (made now when none was prepared)."""
        self.prepare_key()
        making, self._next_key = self._next_key, None
        assert making is not None
        key_pem, csr = await making
        body = {"csr": csr.decode("ascii"), "service": self.service, "instance": self.instance}
        issued_at = clock()
        status, data = await _post_json(
            self._host, self._port, "/v1/certificates", body, self._token
        )
        if status != 200:
            problem = data.get("error", "") if isinstance(data, dict) else ""
            raise ControlPlaneError(f"certificate request answered {status} {problem}".strip())
        try:
            # In a worker thread: three SSL contexts take 8-15 ms (more on a busy host),
            # most of it in OpenSSL with the GIL released; on the loop they held every
            # request in flight that long, at every renewal.
            return await asyncio.to_thread(
                Credentials.build,
                data["certificate"].encode("ascii"),
                key_pem,
                data["root"].encode("ascii"),
                principal=str(data["spiffe_id"]),
                serial=int(data["serial"], 16),
                not_after=float(data["not_after"]),
                issued_at=issued_at,
            )
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise ControlPlaneError(f"unusable certificate from the control plane: {exc}") from None


class IdentityKeeper:
    """Holds the current credentials and keeps them fresh."""

    def __init__(
        self,
        client: CertificateClient,
        rng: random.Random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._rng = rng
        self._clock = clock
        self.current: Credentials | None = None
        self.due = 0.0
        """When (epoch s) the current certificate is to be renewed (drawn once per
        certificate: `renewal_due`)."""
        self.key_at = 0.0
        """When (epoch s) the key of that renewal is to be made (`key_due`)."""
        self.renewals = 0
        self.failures = 0

    async def run(self) -> None:
        """Forever: make the next key when its moment comes, obtain or renew when due,
        retry failures with backoff."""
        try:
            while True:
                if self.current is not None and not self.failures:
                    await asyncio.sleep(max(0.0, self.key_at - self._clock()))
                    self._client.prepare_key()
                await asyncio.sleep(self.next_delay())
                try:
                    credentials = await self._client.fetch(self._clock)
                except ControlPlaneError as exc:
                    self.failures += 1
                    if self.failures == 1 or self.failures % 20 == 0:
                        log.warning(
                            "certificate request failed (%d in a row): %s", self.failures, exc
                        )
                    continue
                self.take(credentials)
        finally:
            self._client.drop_prepared_key()

    def take(self, credentials: Credentials) -> None:
        """Use `credentials` from now on; draw when they are to be renewed, and when the
        key of that renewal is to be made."""
        if self.current is not None:
            self.renewals += 1
        self.failures = 0
        self.current = credentials
        self.due = renewal_due(credentials.issued_at, credentials.not_after, self._rng)
        self.key_at = key_due(credentials.issued_at, self.due, self._rng)
        log.info(
            "certificate %s serial %x, renewal in %.0f s",
            credentials.principal,
            credentials.serial,
            self.due - self._clock(),
        )

    def next_delay(self) -> float:
        """Seconds until the next fetch: now with no certificate, a backoff after a failure,
        else until the current certificate's renewal."""
        now = self._clock()
        current = self.current
        if self.failures:
            left = current.not_after - now if current is not None else 0.0
            return retry_delay(self.failures, left, self._rng)
        if current is None:
            return 0.0
        return max(0.0, self.due - now)

    def summary(self) -> dict[str, Any]:
        current = self.current
        return {
            "certificate": current.summary() if current is not None else None,
            "renewals": self.renewals,
            "failures": self.failures,
        }


async def _post_json(
    host: str, port: int, target: str, body: dict[str, Any], token: str
) -> tuple[int, Any]:
    """A one-shot HTTP/1.1 POST of JSON; any failure is a ControlPlaneError."""
    payload = json.dumps(body).encode()
    headers = {
        "content-type": "application/json",
        "content-length": str(len(payload)),
        "authorization": f"Bearer {token}",
    }
    head = request_head("POST", host, port, target, headers)
    status, raw = await control_plane_request(host, port, head + payload, REQUEST_TIMEOUT_S)
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        raise ControlPlaneError(f"control plane answered {status} with a non-JSON body") from None
