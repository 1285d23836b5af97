"""TCP load routes in the experiment file: their shape and their fit to the topology."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.spec.load import LoadSpec
from mesh_runtime.validation import model_from_data

TOPOLOGIES = Path(__file__).resolve().parents[3] / "experiments" / "topologies"


def experiment(tmp_path: Path, routes: str, topology: str = "shop-tcp") -> Path:
    """exp.yaml on `topology` (copied beside it) with these load routes (YAML flow list)."""
    (tmp_path / "topologies").mkdir()
    name = f"{topology}.yaml"
    shutil.copy(TOPOLOGIES / name, tmp_path / "topologies" / name)
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"title: t\ntarget: {{topology: topologies/{name}}}\n"
        f"load: {{duration: 10s, routes: {routes}}}\n",
        encoding="utf-8",
    )
    return path


def test_a_tcp_route_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An HTTP route beside a tcp route to kv (a protocol: tcp service) is fine."""
    path = experiment(
        tmp_path,
        '[{name: shop}, {name: kv, tcp: {service: kv, send: "PING\\n", expect: PONG}}]',
    )
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.startswith("ok: t")


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (
            "[{name: c, tcp: {service: cart, send: x}}]",
            "load.routes[0].tcp.service: cart speaks http; a tcp route needs a"
            " `protocol: tcp` service",
        ),
        (
            "[{name: c, tcp: {service: nosuch}}]",
            "load.routes[0].tcp.service: unknown service 'nosuch'",
        ),
        (
            "[{name: c, path: /x, tcp: {service: kv}}]",
            "a tcp route has no path (HTTP fields)",
        ),
        (
            "[{name: c, tcp: {service: kv, half_close: false}}]",
            "without half_close a tcp route needs expect or expect_bytes",
        ),
    ],
)
def test_a_bad_tcp_route_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], routes: str, message: str
) -> None:
    """A tcp route to an http service, to no service, with HTTP fields, or without an end."""
    path = experiment(tmp_path, routes)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_the_record_method_of_a_tcp_route_is_tcp() -> None:
    """A tcp route's records say method TCP; an HTTP route's its method."""
    spec = model_from_data(
        {"routes": [{"name": "a", "method": "POST"}, {"name": "b", "tcp": {"service": "kv"}}]},
        LoadSpec,
        "x.yaml",
    )
    assert [r.label_method for r in spec.routes] == ["POST", "TCP"]


def test_an_unknown_protocol_in_the_topology_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`protocol: udp` on a service: validate names the topology file and field, exit 2."""
    path = experiment(tmp_path, "[{name: shop}]")
    topology = tmp_path / "topologies" / "shop-tcp.yaml"
    topology.write_text(topology.read_text().replace("protocol: tcp", "protocol: udp"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "services.kv.protocol: unknown protocol 'udp' (expected one of: http, grpc, tcp)" in err


def test_a_tcp_route_survives_the_load_plans_round_trip() -> None:
    """The load plan carries the spec as dumped JSON (every field): it reads back the same."""
    spec = model_from_data({"routes": [{"name": "b", "tcp": {"service": "kv"}}]}, LoadSpec, "x")
    assert LoadSpec.model_validate_json(spec.model_dump_json()) == spec
