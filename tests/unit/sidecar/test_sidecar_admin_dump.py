"""The admin config dump: serialized once per applied config, a new config a new dump."""

from __future__ import annotations

import asyncio
import json
import random

from mesh_runtime.sidecar.admin import AdminApi, Lifecycle
from mesh_runtime.sidecar.http1 import Downstream, Request
from mesh_runtime.sidecar.meshconfig import MeshConfig
from mesh_runtime.sidecar.observe import Identity, Observer
from mesh_runtime.sidecar.state import StateHolder
from mesh_runtime.sidecar.telemetry import MeshMetrics


def dump(admin: AdminApi) -> bytes:
    request = Request(b"GET", b"/config_dump", [], downstream=Downstream("127.0.0.1:5000"))
    response = asyncio.run(admin.handle(request))
    assert response.status == 200
    assert isinstance(response.body, bytes)
    return response.body


def test_the_dump_follows_the_applied_config_and_is_made_once_per_config() -> None:
    holder = StateHolder("catalog", random.Random(1))
    holder.apply(MeshConfig(version=3))
    observer = Observer(Identity("catalog", "catalog-0", "v1"), MeshMetrics())
    admin = AdminApi(holder, observer, Lifecycle(), token=None)
    first = dump(admin)
    assert json.loads(first)["version"] == 3
    assert dump(admin) is first  # the same bytes, not serialized again
    holder.apply(MeshConfig(version=4))
    assert json.loads(dump(admin))["version"] == 4
