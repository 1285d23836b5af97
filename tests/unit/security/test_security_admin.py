"""The sidecar admin API's access rules: loopback only, and the token where there is one."""

from __future__ import annotations

import asyncio
import random

from mesh_runtime.sidecar.admin import AdminApi, Lifecycle
from mesh_runtime.sidecar.http1 import Downstream, Request
from mesh_runtime.sidecar.meshconfig import MeshConfig
from mesh_runtime.sidecar.observe import Identity, Observer
from mesh_runtime.sidecar.state import StateHolder
from mesh_runtime.sidecar.telemetry import MeshMetrics

TOKEN = "admin-secret-token"


def api(token: str | None = TOKEN) -> AdminApi:
    holder = StateHolder("catalog", random.Random(1))
    holder.apply(MeshConfig(version=3))
    observer = Observer(Identity("catalog", "catalog-0", "v1"), MeshMetrics())
    lifecycle = Lifecycle()
    lifecycle.listening = True
    return AdminApi(holder, observer, lifecycle, token=token, security=lambda: {"ok": True})


def get(
    admin: AdminApi, path: str, remote: str = "127.0.0.1:5000", token: str | None = None
) -> int:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    request = Request(b"GET", path.encode(), headers, downstream=Downstream(remote))
    response = asyncio.run(admin.handle(request))
    assert TOKEN.encode() not in (response.body if isinstance(response.body, bytes) else b"")
    return response.status


def test_config_dump_and_stats_need_the_token() -> None:
    """Without or with a wrong token /config_dump and /stats are 401; with it, 200."""
    admin = api()
    for path in ("/config_dump", "/stats"):
        assert get(admin, path) == 401
        assert get(admin, path, token="wrong") == 401
        assert get(admin, path, token=TOKEN) == 200


def test_ready_and_metrics_stay_open_for_probes_and_prometheus() -> None:
    """/ready and /metrics answer without a token, from any address."""
    admin = api()
    assert get(admin, "/ready", remote="10.1.2.3:4000") == 200
    assert get(admin, "/metrics", remote="10.1.2.3:4000") == 200


def test_guarded_endpoints_answer_loopback_only() -> None:
    """A non-loopback peer gets 403 even with the token; IPv6 loopback is fine."""
    admin = api()
    assert get(admin, "/stats", remote="10.1.2.3:4000", token=TOKEN) == 403
    assert get(admin, "/stats", remote="[::1]:4000", token=TOKEN) == 200


def test_without_a_configured_token_loopback_is_enough() -> None:
    """A sidecar started without --admin-token-file serves loopback callers as before."""
    assert get(api(token=None), "/config_dump") == 200


def test_a_container_admin_listener_takes_remote_callers_with_the_token() -> None:
    """Bound to a non-loopback address (published port), the token alone decides."""
    holder = StateHolder("catalog", random.Random(1))
    holder.apply(MeshConfig(version=3))
    observer = Observer(Identity("catalog", "catalog-0", "v1"), MeshMetrics())
    admin = AdminApi(holder, observer, Lifecycle(), token=TOKEN, loopback_only=False)
    assert get(admin, "/stats", remote="172.17.0.1:4000", token=TOKEN) == 200
    assert get(admin, "/stats", remote="172.17.0.1:4000") == 401
