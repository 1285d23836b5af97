"""The topology file: validation, call graph, instances, one-line errors."""

from pathlib import Path

import pytest

from mesh_runtime.errors import TopologyError
from mesh_runtime.topology import Topology, load_topology

SHOP = Path(__file__).resolve().parents[2] / "experiments" / "topologies" / "shop.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topo.yaml"
    path.write_text(text)
    return path


def test_shop_topology_instances_and_graph() -> None:
    """The shipped shop topology has two catalog replicas and the documented call graph."""
    topology = load_topology(SHOP)
    assert topology.ingress == "gateway"
    assert [i.name for i in topology.instances()] == [
        "gateway-0",
        "frontend-0",
        "catalog-0",
        "catalog-1",
        "cart-0",
        "inventory-0",
    ]
    assert topology.call_graph()["frontend"] == ["catalog", "cart"]
    assert [e.name for e in topology.proxied_edges()] == ["frontend->catalog", "cart->inventory"]


def test_versions_give_canary_instances() -> None:
    """Versions with replicas expand to instances carrying their version."""
    topology = Topology.model_validate(
        {
            "name": "canary",
            "services": {
                "web": {"ingress": True, "calls": ["api"]},
                "api": {"versions": [{"name": "v1", "replicas": 2}, {"name": "v2", "replicas": 1}]},
            },
        }
    )
    assert [(i.name, i.version) for i in topology.instances() if i.service == "api"] == [
        ("api-0", "v1"),
        ("api-1", "v1"),
        ("api-2", "v2"),
    ]


def test_protocol_defaults_to_http_and_reads_tcp_and_grpc() -> None:
    """A service without `protocol` speaks http; tcp and grpc are read as written."""
    topology = Topology.model_validate(
        {
            "name": "p",
            "services": {
                "web": {"ingress": True, "calls": ["kv", "api"]},
                "kv": {"protocol": "tcp"},
                "api": {"protocol": "grpc"},
            },
        }
    )
    assert [topology.protocol(s) for s in ("web", "kv", "api")] == ["http", "tcp", "grpc"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nservices: {a: {calls: [b]}}\n", "services.a.calls: unknown service 'b'"),
        ("name: x\nservices: {a: {}}\n", "exactly one service must have ingress"),
        (
            "name: x\nservices: {a: {ingress: true, calls: [b]}, b: {calls: [a]}}\n",
            "calls form a cycle",
        ),
        (
            "name: x\nservices: {a: {ingress: true}}\ntoxiproxy: {edges: ['a->z']}\n",
            "names an unknown service",
        ),
        ("name: x\nservices: {a: {ingress: true, replicas: -1}}\n", "services.a.replicas"),
        (
            "name: x\nservices: {a: {ingress: true, colour: red}}\n",
            "services.a.colour: unknown field",
        ),
        ("name: x\nservices: [\n", "not valid YAML"),
        (
            "name: x\nservices: {a: {ingress: true, calls: [b]}, b: {protocol: udp}}\n",
            "services.b.protocol: unknown protocol 'udp' (expected one of: http, grpc, tcp)",
        ),
        (
            "name: x\nservices: {a: {ingress: true, protocol: tcp}}\n",
            "services.a: a tcp service cannot be the ingress",
        ),
        (
            "name: x\nservices: {a: {ingress: true, calls: [b]}, b: {protocol: tcp, calls: [c]},"
            " c: {}}\n",
            "services.b: a tcp service makes no calls",
        ),
        (
            "name: x\nservices: {a: {ingress: true, policy: {http: [{retries: {retryOn: 'oops'}}]}}}\n",
            "unknown retryOn condition 'oops'",
        ),
    ],
)
def test_bad_topology_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    """Each bad topology raises one TopologyError naming the file and the problem."""
    path = write(tmp_path, text)
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(str(path))
    assert message in line


def test_missing_topology_file(tmp_path: Path) -> None:
    """A missing file is reported as such, not as a traceback."""
    with pytest.raises(TopologyError, match="no such file"):
        load_topology(tmp_path / "absent.yaml")
