"""A sample service instance's behaviour and the HTTP API that reads and changes it.

GET /_health           200
GET|PUT /_behaviour    the behaviour; a PUT of a partial object changes those fields

Shared by the HTTP service (`app.py`) and the gRPC one (`rpc_server.py`): whatever
protocol an instance serves, the harness changes its behaviour the same way.
"""

from __future__ import annotations

import asyncio
import json
import random

from aiohttp import web

from mesh_runtime.services.behaviour import (
    Behaviour,
    BehaviourError,
    sample_latency_ms,
    updated,
)


class BehaviourControl:
    """The current behaviour, changed through the API; held requests wake on a change."""

    def __init__(self, instance: str) -> None:
        self._instance = instance
        self.behaviour = Behaviour()
        self._changed = asyncio.Event()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/_health", self.health)
        app.router.add_get("/_behaviour", self.get_behaviour)
        app.router.add_put("/_behaviour", self.put_behaviour)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "instance": self._instance})

    async def get_behaviour(self, request: web.Request) -> web.Response:
        return web.json_response(self.behaviour.model_dump())

    async def put_behaviour(self, request: web.Request) -> web.Response:
        try:
            change = json.loads(await request.read())
            self.behaviour = updated(self.behaviour, change)
        except (ValueError, BehaviourError) as exc:
            message = str(exc) if isinstance(exc, BehaviourError) else f"not valid JSON: {exc}"
            return web.json_response({"error": message}, status=400)
        # wake every held request so that it sees the new behaviour
        self._changed.set()
        self._changed = asyncio.Event()
        return web.json_response(self.behaviour.model_dump())

    async def unless_hanging(self) -> Behaviour:
        """The behaviour once it no longer says hang; a held request only waits on an event,
        so other requests (and /_health) are served meanwhile."""
        while self.behaviour.hang:
            await self._changed.wait()
        return self.behaviour

    async def delayed(self, rng: random.Random) -> Behaviour:
        """The behaviour a request meets: once it no longer says hang, after the latency it
        samples (both protocols' requests start here)."""
        behaviour = await self.unless_hanging()
        delay_ms = sample_latency_ms(behaviour.latency, rng)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        return behaviour
