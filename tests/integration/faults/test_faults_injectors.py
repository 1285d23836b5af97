"""Each injector applies its fault to a real shop deployment and reverts it."""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest

from harness.faults import FaultContext
from harness.faults.behaviour import behaviour_url
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.supervisor import is_running
from tests.integration.faults.faultkit import applied, eventually, get, injector

pytestmark = pytest.mark.integration


def _toxics(ctx: FaultContext, proxy: str) -> list[str]:
    assert ctx.toxiproxy is not None
    return [t["name"] for t in ctx.toxiproxy.toxics(proxy)]


def _policy(ctx: FaultContext, service: str) -> dict[str, Any]:
    assert ctx.control is not None
    return ctx.control.config().services[service].policy.model_dump(mode="json")


def test_toxic_on_an_edge_is_on_every_proxy_then_gone(ctx: FaultContext) -> None:
    """A latency toxic on frontend->catalog sits on both catalog proxies and slows requests."""
    inj = injector(
        ctx,
        name="slow-catalog",
        kind="toxic",
        target="frontend->catalog",
        params={"type": "latency", "attributes": {"latency": 300}},
    )
    with applied(inj):
        for proxy in ("frontend--catalog-0", "frontend--catalog-1"):
            assert _toxics(ctx, proxy) == ["meshproof-slow-catalog"]
        started = time.monotonic()
        assert get(ctx.deployment.ingress_url + "/").status_code == 200
        assert time.monotonic() - started >= 0.3
    for proxy in ("frontend--catalog-0", "frontend--catalog-1"):
        assert _toxics(ctx, proxy) == []


def test_toxic_on_one_endpoint_only(ctx: FaultContext) -> None:
    """A toxic on frontend->catalog-1 is only on that endpoint's proxy."""
    inj = injector(
        ctx,
        name="reset-one",
        kind="toxic",
        target="frontend->catalog-1",
        params={"type": "reset_peer", "attributes": {"timeout": 0}},
    )
    with applied(inj):
        assert _toxics(ctx, "frontend--catalog-1") == ["meshproof-reset-one"]
        assert _toxics(ctx, "frontend--catalog-0") == []
    assert _toxics(ctx, "frontend--catalog-1") == []


def test_proxy_down_disables_then_enables(ctx: FaultContext) -> None:
    """proxy_down disables the endpoint's proxy in Toxiproxy and enables it on revert."""
    assert ctx.toxiproxy is not None
    inj = injector(ctx, name="down", kind="proxy_down", target="cart->inventory")
    with applied(inj):
        assert ctx.toxiproxy.proxies()["cart--inventory-0"]["enabled"] is False
    assert ctx.toxiproxy.proxies()["cart--inventory-0"]["enabled"] is True


def test_pause_stops_then_resumes_a_sidecar(ctx: FaultContext) -> None:
    """process_pause leaves the sidecar in state 'stopped'; revert makes it run again."""
    record = ctx.deployment.process("catalog-0-sidecar")
    inj = injector(ctx, name="freeze", kind="process_pause", target="sidecar:catalog-0")
    with applied(inj) as entry:
        assert entry["steps"][0]["pid"] == record.pid
        eventually(
            lambda: psutil.Process(record.pid).status() == psutil.STATUS_STOPPED, 5, "stopped"
        )
    eventually(lambda: psutil.Process(record.pid).status() != psutil.STATUS_STOPPED, 5, "resumed")


def test_behaviour_changed_then_restored(ctx: FaultContext) -> None:
    """service_behaviour changes catalog-1 only and restores its exact previous behaviour."""
    urls = {
        r.instance: behaviour_url(r) for r in ctx.deployment.instances if r.service == "catalog"
    }
    before = {i: get(u).json() for i, u in urls.items()}
    inj = injector(
        ctx,
        name="flaky",
        kind="service_behaviour",
        target="catalog-1",
        params={"error_rate": 1.0, "error_status": 503},
    )
    with applied(inj) as entry:
        assert get(urls["catalog-1"]).json()["error_rate"] == 1.0
        assert get(urls["catalog-0"]).json() == before["catalog-0"]
        assert entry["steps"][0]["behaviour"] == before["catalog-1"]
    assert {i: get(u).json() for i, u in urls.items()} == before


def test_mesh_fault_pushed_then_exact_policy_restored(ctx: FaultContext) -> None:
    """mesh_fault aborts every catalog request once pushed; revert restores the old policy."""
    before = _policy(ctx, "catalog")
    inj = injector(
        ctx,
        name="abort",
        kind="mesh_fault",
        target="catalog",
        params={"abort": {"httpStatus": 503, "percentage": 100}},
    )
    with applied(inj) as entry:
        assert all(r["fault"] is not None for r in _policy(ctx, "catalog")["http"])
        assert get(ctx.deployment.ingress_url + "/").status_code >= 500
        assert entry["steps"][0]["policy"] == before
    assert _policy(ctx, "catalog") == before
    assert get(ctx.deployment.ingress_url + "/").status_code == 200


def test_policy_patch_then_restore_and_no_token_in_entry(ctx: FaultContext) -> None:
    """A policy merge patch is in force, then the previous policy is back; no token is written."""
    before = _policy(ctx, "cart")
    inj = injector(
        ctx,
        name="no-retries",
        kind="policy",
        target="cart",
        params={"http": [{"name": "default", "retries": {"attempts": 0}}]},
    )
    with applied(inj) as entry:
        assert _policy(ctx, "cart")["http"][0]["retries"]["attempts"] == 0
        token = ctx.deployment.control_token
        assert token and token not in repr(entry)
        assert entry["steps"][0]["policy"] == before
    assert _policy(ctx, "cart") == before


def test_traffic_split_rewrites_first_route(ctx: FaultContext) -> None:
    """traffic_split makes the first route's destinations weighted subsets, then restores."""
    before = _policy(ctx, "catalog")
    inj = injector(ctx, name="split", kind="traffic_split", target="catalog", params={"v1": 100})
    with applied(inj):
        assert _policy(ctx, "catalog")["http"][0]["route"] == [{"subset": "v1", "weight": 100}]
        assert get(ctx.deployment.ingress_url + "/").status_code == 200
    assert _policy(ctx, "catalog") == before


def test_kill_then_restart_serves_again(ctx: FaultContext) -> None:
    """process_kill SIGKILLs the instance; revert starts it again, ready, with a new pid."""
    old = ctx.deployment.process("catalog-1")
    inj = injector(ctx, name="kill", kind="process_kill", target="service:catalog-1")
    with applied(inj):
        eventually(lambda: not is_running(old), 5, "killed")
    new = ctx.deployment.process("catalog-1")
    assert new.pid != old.pid and is_running(new)
    record = next(r for r in ctx.deployment.instances if r.instance == "catalog-1")
    assert get(f"http://127.0.0.1:{record.app_port}/_health").status_code == 200


def test_control_plane_outage_sidecars_keep_serving(ctx: FaultContext) -> None:
    """With the control plane killed the mesh still serves; revert brings it back ready."""
    assert ctx.control is not None
    inj = injector(ctx, name="cp", kind="control_plane_outage")
    with applied(inj):
        eventually(lambda: not ctx.control.ready(), 5, "control plane down")  # type: ignore[union-attr]
        assert get(ctx.deployment.ingress_url + "/").status_code == 200
    assert ctx.control.ready()


def test_rolling_restart_of_a_service_sidecars(ctx: FaultContext, shop: Deployment) -> None:
    """rolling_restart restarts each catalog sidecar in turn; requests keep succeeding."""
    old = {n: ctx.deployment.process(n).pid for n in ("catalog-0-sidecar", "catalog-1-sidecar")}
    inj = injector(
        ctx, name="roll", kind="rolling_restart", target="catalog", params={"interval": "100ms"}
    )
    with applied(inj):
        pass
    for name, pid in old.items():
        assert ctx.deployment.process(name).pid != pid
    statuses = [get(ctx.deployment.ingress_url + "/").status_code for _ in range(10)]
    assert statuses == [200] * 10
