"""Config from the control plane: a long-poll loop, and static config files.

`GET /v1/config?version=N&wait=S&sidecar=INSTANCE&service=SERVICE` answers the MeshConfig
of the service's scope (its own entry and those it calls) as soon as that scope changed
after version N, or 304 after S seconds. Any failure (refused, timeout, bad payload)
keeps the last good config in service and retries with capped, jittered backoff. Plain
asyncio streams: this is not the hot path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from mesh_runtime.errors import ControlPlaneError, InvalidInput
from mesh_runtime.sidecar.config_reader import read_config
from mesh_runtime.sidecar.http_client import control_plane_request, request_head
from mesh_runtime.sidecar.meshconfig import MeshConfig

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.25
BACKOFF_MAX_S = 5.0


def parse_control_plane_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise InvalidInput("--control-plane", "", f"expected http://HOST:PORT, got {url!r}")
    try:
        port = parts.port or 80
    except ValueError:
        raise InvalidInput("--control-plane", "", f"bad port in {url!r}") from None
    return parts.hostname, port


class ConfigWatcher:
    """Long-polls the control plane and hands every newer MeshConfig to `apply`."""

    def __init__(
        self,
        url: str,
        instance: str,
        apply: Callable[[MeshConfig], None],
        rng: random.Random,
        wait_s: float = 20.0,
        service: str | None = None,
    ) -> None:
        self._host, self._port = parse_control_plane_url(url)
        self._instance = instance
        self._service = service
        self._apply = apply
        self._rng = rng
        self._wait_s = wait_s
        self.version = -1
        self.failures = 0

    async def run(self) -> None:
        """Forever: poll, apply, or back off after a failure."""
        while True:
            try:
                config = await self.poll_once()
            except ControlPlaneError as exc:
                self._failed(exc)
                await asyncio.sleep(self._backoff())
                continue
            if self.failures:
                log.warning("control plane reachable again after %d failures", self.failures)
                self.failures = 0
            if config is not None:
                self.version = config.version
                self._apply(config)

    async def poll_once(self) -> MeshConfig | None:
        """One long poll: a newer config, or None when the wait ended with 304."""
        fields = {"version": self.version, "wait": int(self._wait_s), "sidecar": self._instance}
        if self._service is not None:
            fields["service"] = self._service
        query = urlencode(fields)
        head = request_head("GET", self._host, self._port, f"/v1/config?{query}", {})
        status, body = await control_plane_request(self._host, self._port, head, self._wait_s + 5.0)
        if status == 304:
            return None
        if status != 200:
            raise ControlPlaneError(f"control plane answered {status} to GET /v1/config")
        try:
            data = json.loads(body)
        except ValueError:
            raise ControlPlaneError("control plane sent a config that is not JSON") from None
        try:
            config = read_config(data, "control plane config")
        except InvalidInput as exc:
            raise ControlPlaneError(str(exc)) from None
        return config if config.version > self.version else None

    def _failed(self, exc: ControlPlaneError) -> None:
        self.failures += 1
        if self.failures == 1 or self.failures % 20 == 0:
            log.warning("%s; serving config version %d meanwhile", exc, self.version)

    def _backoff(self) -> float:
        ceiling = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** min(self.failures, 8))
        return ceiling * (0.5 + 0.5 * self._rng.random())
