"""A shop deployment record (data only, nothing runs) for target resolution tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.runtimes.deployment import (
    Deployment,
    InstanceRecord,
    ProcessRecord,
    ProxyRecord,
)


def _instance(service: str, index: int, version: str = "v1", port: int = 9000) -> InstanceRecord:
    base = port + index * 10
    return InstanceRecord(
        service=service,
        instance=f"{service}-{index}",
        version=version,
        app_port=base,
        inbound_port=base + 1,
        outbound_port=base + 2,
        admin_port=base + 3,
    )


def _process(role: str, name: str, pid: int) -> ProcessRecord:
    return ProcessRecord(role=role, name=name, pid=pid, ports={}, create_time=1.0, command=["x"])  # type: ignore[arg-type]


@pytest.fixture
def shop(tmp_path: Path) -> Deployment:
    instances = [
        _instance("gateway", 0, port=9000),
        _instance("frontend", 0, port=9100),
        _instance("catalog", 0, port=9200),
        _instance("catalog", 1, version="v2", port=9200),
        _instance("cart", 0, port=9300),
    ]
    proxies = [
        ProxyRecord(
            name=f"frontend--catalog-{i}",
            edge="frontend->catalog",
            instance=f"catalog-{i}",
            listen=f"127.0.0.1:{9500 + i}",
            upstream=f"127.0.0.1:{9201 + 10 * i}",
        )
        for i in (0, 1)
    ]
    processes = [_process("control-plane", "control-plane", 100)]
    for n, record in enumerate(instances):
        processes.append(_process("service", record.instance, 200 + n))
        processes.append(_process("sidecar", f"{record.instance}-sidecar", 300 + n))
    return Deployment(
        topology_file="experiments/topologies/shop.yaml",
        ingress_url="http://127.0.0.1:9001",
        control_url="http://127.0.0.1:9900",
        control_token="secret-token",
        toxiproxy_url="http://127.0.0.1:9800",
        work_dir=str(tmp_path / "state" / "work" / "shop"),
        instances=instances,
        proxies=proxies,
        processes=processes,
    )
