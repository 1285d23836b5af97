"""`meshproof compose render`: a valid compose document that is what the runtime deploys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harness.cli.compose import render
from harness.cli.main import main
from harness.errors import FaultError
from harness.faults.container import container_target, network_alias
from mesh_runtime.runtimes.deployment import Deployment, ProcessRecord
from mesh_runtime.runtimes.docker.compose import (
    WORK_DIR,
    collector_endpoint,
    compose_document,
    compose_files,
)
from mesh_runtime.runtimes.docker.images import stable_tag
from tests.unit.docker.dockerkit import SHOP, shop_containers, shop_plan

# The essentials of the compose specification (compose-spec/schema/compose-spec.json):
# the shapes meshproof writes, checked strictly enough to catch a misspelt key.
_LIST_OR_MAP = {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}]}
COMPOSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["services"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "services": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-zA-Z0-9._-]+$"},
            "additionalProperties": {
                "type": "object",
                "required": ["image"],
                "additionalProperties": False,
                "properties": {
                    "image": {"type": "string"},
                    "command": {"type": "array", "items": {"type": "string"}},
                    "environment": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "volumes": {"type": "array", "items": {"type": "string", "pattern": ":"}},
                    "ports": {
                        "type": "array",
                        "items": {"type": "string", "pattern": r"^127\.0\.0\.1:\d+:\d+$"},
                    },
                    "network_mode": {"type": "string", "pattern": "^(service|container):.+"},
                    "networks": {
                        "oneOf": [
                            {"type": "array", "items": {"type": "string"}},
                            {
                                "type": "object",
                                "additionalProperties": {
                                    "type": "object",
                                    "properties": {
                                        "aliases": {"type": "array", "items": {"type": "string"}}
                                    },
                                    "additionalProperties": False,
                                },
                            },
                        ]
                    },
                    "depends_on": _LIST_OR_MAP,
                },
                "not": {"required": ["network_mode", "networks"]},
            },
        },
        "networks": {"type": "object"},
    },
}


def test_rendered_document_is_valid_against_the_compose_essentials() -> None:
    """The document validates; depends_on and network_mode name services of the document."""
    document = compose_document(shop_containers())
    jsonschema.validate(document, COMPOSE_SCHEMA)
    services = document["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        mode = service.get("network_mode")
        if mode:
            assert mode.removeprefix("service:") in services
        for network in service.get("networks", []):
            assert network in document["networks"]


def test_rendered_services_match_the_runtime_containers() -> None:
    """Same services, images, pod sharing, commands (spans via the collector) and ports."""
    cplan = shop_containers()
    services = compose_document(cplan)["services"]
    sink = "http://trace-sink:20000/v1/traces"
    for spec in cplan.containers:
        service = services[spec.name]
        assert service["image"] == stable_tag(spec.image)
        expected = [arg.replace(sink, collector_endpoint()) for arg in spec.command]
        if spec.role == "toxiproxy":
            expected += ["-config", f"{WORK_DIR}/toxiproxy.json"]
        if spec.role == "trace-sink":  # the sink forwards every span to the compose's Jaeger
            expected += ["--forward", "http://jaeger:4318/v1/traces"]
        assert service["command"] == expected
        assert service.get("network_mode") == (f"service:{spec.pod}" if spec.pod else None)
        assert service.get("ports", []) == [f"127.0.0.1:{p}:{p}" for p in spec.publish]
    extra = set(services) - {spec.name for spec in cplan.containers}
    assert extra == {"prometheus", "otel-collector", "jaeger"}


def test_companion_files_hold_proxies_scrape_targets_and_collector_export() -> None:
    """Toxiproxy's config lists the proxies, Prometheus scrapes admin ports by name."""
    cplan = shop_containers()
    files = compose_files(cplan, "token")
    proxies = yaml.safe_load(files["shop/toxiproxy.json"])
    assert [p["name"] for p in proxies] == [p.name for p in cplan.proxies]
    prometheus = yaml.safe_load(files["shop/prometheus.yml"])
    targets = [t for g in prometheus["scrape_configs"][0]["static_configs"] for t in g["targets"]]
    admin = {f"{r.instance}:{r.admin_port}" for r in shop_plan().instances}
    assert set(targets) == admin
    collector = yaml.safe_load(files["shop/otel-collector.yaml"])
    assert collector["exporters"]["otlphttp/meshproof"]["endpoint"] == "http://trace-sink:20000"


def test_render_writes_the_compose_file_and_is_reproducible(tmp_path: Path) -> None:
    """Rendering twice gives the same files; the token is kept and owner-only."""
    out = tmp_path / "shop.compose.yaml"
    first = render(SHOP, out, "mesh", 20000)
    texts = {p: p.read_text() for p in first}
    render(SHOP, out, "mesh", 20000)
    assert {p: p.read_text() for p in first} == texts
    assert (tmp_path / "shop" / "control-token").stat().st_mode & 0o077 == 0
    jsonschema.validate(yaml.safe_load(out.read_text()), COMPOSE_SCHEMA)


def test_committed_shop_compose_file_is_current(tmp_path: Path) -> None:
    """compose/shop.compose.yaml is what `meshproof compose render` writes today."""
    out = tmp_path / "shop.compose.yaml"
    render(SHOP, out, "mesh", 20000)
    committed = SHOP.parents[2] / "compose" / "shop.compose.yaml"
    assert committed.read_text() == out.read_text(), (
        "compose/shop.compose.yaml is stale: run "
        "`meshproof compose render experiments/topologies/shop.yaml`"
    )


def test_render_cli_rejects_a_missing_topology_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad topology path is exit code 2 and one line on stderr."""
    code = main(["compose", "render", "no/such/topology.yaml", "--out", "/tmp/x.yaml"])
    assert code == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def _deployment() -> Deployment:
    def record(role: str, name: str) -> ProcessRecord:
        return ProcessRecord(
            role=role,  # type: ignore[arg-type]
            name=name,
            pid=1,
            ports={},
            create_time=0.0,
            command=[],
            container_id=f"id-{name}",
        )

    return Deployment(
        topology_file="shop.yaml",
        runtime="docker",
        ingress_url="http://127.0.0.1:1",
        work_dir="/w/work/shop",
        processes=[
            record("control-plane", "control-plane"),
            record("service", "catalog-1"),
            record("sidecar", "catalog-1-sidecar"),
        ],
    )


def test_container_fault_targets_resolve_to_parts() -> None:
    """Instance, service:/sidecar:/container: prefixes and plain parts; unknown is an error."""
    deployment = _deployment()
    assert container_target(deployment, "catalog-1") == "catalog-1"
    assert container_target(deployment, "sidecar:catalog-1") == "catalog-1-sidecar"
    assert container_target(deployment, "service:catalog-1") == "catalog-1"
    assert container_target(deployment, "container:control-plane") == "control-plane"
    assert network_alias(deployment, "catalog-1-sidecar") == "catalog-1"
    assert network_alias(deployment, "control-plane") == "control-plane"
    with pytest.raises(FaultError, match="no container of that name"):
        container_target(deployment, "catalog-9")
