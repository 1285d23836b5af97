"""Fault targets resolved against a deployment: proxies, instances, services, processes."""

from __future__ import annotations

import pytest

from harness.errors import FaultError
from harness.faults.kube_rollout import instance_deployments
from harness.faults.targets import (
    instances_for,
    process_name,
    proxies_for,
    service_of,
    sidecars_for,
)
from mesh_runtime.runtimes.deployment import Deployment


def test_edge_is_every_proxy_on_it(shop: Deployment) -> None:
    """'frontend->catalog' is the proxy in front of each catalog instance."""
    names = [p.name for p in proxies_for(shop, "frontend->catalog")]
    assert names == ["frontend--catalog-0", "frontend--catalog-1"]


def test_endpoint_is_one_proxy(shop: Deployment) -> None:
    """'frontend->catalog-1' is only the proxy in front of catalog-1."""
    assert [p.name for p in proxies_for(shop, "frontend->catalog-1")] == ["frontend--catalog-1"]


def test_unproxied_edge_names_the_proxied_ones(shop: Deployment) -> None:
    """An edge without proxies is an error that lists the edges that have them."""
    with pytest.raises(FaultError, match=r"proxied edges: frontend->catalog"):
        proxies_for(shop, "gateway->frontend")


def test_service_is_all_instances_and_instance_is_one(shop: Deployment) -> None:
    """'catalog' is both catalog instances; 'catalog-1' is just that one."""
    assert [r.instance for r in instances_for(shop, "catalog")] == ["catalog-0", "catalog-1"]
    assert [r.instance for r in instances_for(shop, "catalog-1")] == ["catalog-1"]


def test_unknown_instance_lists_services(shop: Deployment) -> None:
    """An unknown target names the services there are."""
    with pytest.raises(FaultError, match="no such service or instance"):
        instances_for(shop, "payments")


def test_policy_target_must_be_a_service(shop: Deployment) -> None:
    """A policy's target is a service; an instance name is refused."""
    assert service_of(shop, "cart") == "cart"
    with pytest.raises(FaultError, match="no such service"):
        service_of(shop, "catalog-1")


def test_process_targets_map_to_process_names(shop: Deployment) -> None:
    """sidecar:/service: targets and control-plane become process-table names."""
    assert process_name(shop, "sidecar:catalog-0") == "catalog-0-sidecar"
    assert process_name(shop, "service:catalog-0") == "catalog-0"
    assert process_name(shop, "control-plane") == "control-plane"
    with pytest.raises(FaultError, match="no process 'catalog-7-sidecar'"):
        process_name(shop, "sidecar:catalog-7")


def test_rolling_restart_targets(shop: Deployment) -> None:
    """'sidecars' is every sidecar in deployment order; a service is only its own."""
    assert sidecars_for(shop, "sidecars")[0] == "gateway-0-sidecar"
    assert len(sidecars_for(shop, "sidecars")) == 5
    assert sidecars_for(shop, "catalog") == ["catalog-0-sidecar", "catalog-1-sidecar"]


def test_rolling_restart_on_kubernetes_is_each_instances_deployment(shop: Deployment) -> None:
    """On the kubernetes runtime a rolling restart rolls each instance's own Deployment
    (named after it) whose pod holds a sidecar: all of them for 'sidecars', in the
    deployment's order, or one service's."""
    every = [r.instance for r in shop.instances if r.admin_port is not None]
    assert instance_deployments(shop, "sidecars") == every
    assert every[0] == "gateway-0" and len(every) == 5
    assert instance_deployments(shop, "catalog") == ["catalog-0", "catalog-1"]
    assert instance_deployments(shop, "catalog-1") == ["catalog-1"]
    with pytest.raises(FaultError, match="no such service or instance"):
        instance_deployments(shop, "nowhere")
