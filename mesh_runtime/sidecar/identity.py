"""The sidecar's workload identity: its key, its certificate from the control plane, renewal.

The sidecar makes an EC P-256 key, sends a CSR with the bootstrap token to
`POST /v1/certificates` and builds its TLS contexts from the answer. It renews at half
the certificate's lifetime with a new key (Istio's default grace is the same 50 %); a
failed renewal is retried with backoff while the old certificate stays in use, so traffic
is never dropped for a renewal. New connections take the new contexts; open ones go on.
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
# resident in the sidecar for its whole life, for a moment's work every renewal.

log = logging.getLogger(__name__)

RENEW_AT = 0.5
"""Share of a certificate's lifetime after which it is renewed."""
RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0
REQUEST_TIMEOUT_S = 10.0


def renew_delay(issued_at: float, not_after: float, now: float) -> float:
    """Seconds from `now` until the certificate issued at `issued_at` is due for renewal."""
    due = issued_at + (not_after - issued_at) * RENEW_AT
    return max(0.0, due - now)


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
        """Start making the next fetch's key and CSR now: the child process takes a second
        or more on a busy host, which a renewal then does not wait for."""
        if self._next_key is None:
            loop = asyncio.get_running_loop()
            self._next_key = loop.create_task(key_and_csr_in_child(self.service))

    def drop_prepared_key(self) -> None:
        if self._next_key is not None:
            self._next_key.cancel()
            self._next_key = None

    async def fetch(self, clock: Callable[[], float] = time.time) -> Credentials:
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
            return Credentials.build(
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
        self.renewals = 0
        self.failures = 0

    async def run(self) -> None:
        """Forever: obtain or renew when due, retry failures with backoff; the next key is
        made while the current certificate is in use."""
        try:
            while True:
                await asyncio.sleep(self._next_delay())
                try:
                    credentials = await self._client.fetch(self._clock)
                except ControlPlaneError as exc:
                    self.failures += 1
                    if self.failures == 1 or self.failures % 20 == 0:
                        log.warning(
                            "certificate request failed (%d in a row): %s", self.failures, exc
                        )
                    continue
                if self.current is not None:
                    self.renewals += 1
                self.failures = 0
                self.current = credentials
                log.info("certificate %s serial %x", credentials.principal, credentials.serial)
                self._client.prepare_key()
        finally:
            self._client.drop_prepared_key()

    def _next_delay(self) -> float:
        now = self._clock()
        current = self.current
        if self.failures:
            left = current.not_after - now if current is not None else 0.0
            return retry_delay(self.failures, left, self._rng)
        if current is None:
            return 0.0
        return renew_delay(current.issued_at, current.not_after, now)

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
