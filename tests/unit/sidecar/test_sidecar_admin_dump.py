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


def flush_answer(admin: AdminApi, authorization: bytes | None) -> tuple[int, object]:
    headers = [(b"authorization", authorization)] if authorization else []
    request = Request(b"POST", b"/spans/flush", headers, downstream=Downstream("127.0.0.1:5000"))
    response = asyncio.run(admin.handle(request))
    body = response.body if isinstance(response.body, bytes) else b""
    return response.status, json.loads(body) if response.status == 200 else None


def test_a_span_flush_needs_the_token_and_says_whether_the_exporter_sent_everything() -> None:
    """POST /spans/flush: 401 without the admin token; with it, the exporter's flush is
    awaited (given its timeout) and its answer and counts returned."""
    asked: list[float] = []
    outcome = [True]

    async def flush(timeout_s: float) -> bool:
        asked.append(timeout_s)
        return outcome[0]

    holder = StateHolder("catalog", random.Random(1))
    observer = Observer(Identity("catalog", "catalog-0", "v1"), MeshMetrics())
    admin = AdminApi(
        holder,
        observer,
        Lifecycle(),
        token="s3cret",
        tracing=lambda: {"exported": 7, "queued": 0},
        flush=flush,
    )
    assert flush_answer(admin, None)[0] == 401 and not asked
    status, body = flush_answer(admin, b"Bearer s3cret")
    assert (status, body) == (200, {"flushed": True, "tracing": {"exported": 7, "queued": 0}})
    outcome[0] = False
    assert flush_answer(admin, b"Bearer s3cret")[1] == {
        "flushed": False,
        "tracing": {"exported": 7, "queued": 0},
    }
    assert asked and all(t > 0 for t in asked)
