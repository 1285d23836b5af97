"""gRPC load routes in the experiment file: their shape, their fit to the topology, and
what a call's gRPC code makes of its record."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.main import main
from harness.load.grpc_reply import call_timeout, grpc_outcome
from harness.load.pacer import PreparedRoute
from harness.spec.load import LoadSpec
from mesh_runtime.validation import model_from_data
from tests.unit.spec.test_spec_tcp_routes import experiment as tcp_experiment


def experiment(tmp_path: Path, routes: str) -> Path:
    """exp.yaml on shop-grpc (copied beside it) with these load routes."""
    return tcp_experiment(tmp_path, routes, "shop-grpc")


def test_a_grpc_route_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An HTTP route beside gRPC routes to catalog (JSON) and inventory (base64) is fine."""
    routes = (
        "[{name: shop}, {name: c, grpc: {service: catalog, method: shop.Catalog/List,"
        " message: {a: 1}, metadata: {x-user: u1}, deadline: 300ms}},"
        " {name: i, grpc: {service: inventory, message_base64: AAEC}}]"
    )
    assert main(["validate", str(experiment(tmp_path, routes))]) == 0
    assert capsys.readouterr().out.startswith("ok: t")


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (
            "[{name: c, grpc: {service: cart}}]",
            "load.routes[0].grpc.service: cart speaks http; a grpc route needs a"
            " `protocol: grpc` service",
        ),
        ("[{name: c, grpc: {service: nosuch}}]", "unknown service 'nosuch'"),
        ("[{name: c, method: POST, grpc: {service: catalog}}]", "a grpc route has no method"),
        ("[{name: c, grpc: {service: catalog, method: 'no slash'}}]", "method"),
        ("[{name: c, grpc: {service: catalog, message_base64: '!!'}}]", "not base64"),
        (
            "[{name: c, grpc: {service: catalog, message: {}, message_base64: AA==}}]",
            "give message (JSON) or message_base64, not both",
        ),
        ("[{name: c, grpc: {service: catalog, metadata: {grpc-x: v}}}]", "not grpc-*"),
        ("[{name: c, grpc: {service: catalog, metadata: {X-Up: v}}}]", "lower case"),
        (
            "[{name: c, grpc: {service: catalog}, tcp: {service: kv}}]",
            "a route is tcp or grpc, not both",
        ),
    ],
)
def test_a_bad_grpc_route_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], routes: str, message: str
) -> None:
    """A grpc route to a non-grpc or unknown service, with HTTP fields, a bad method,
    message or metadata: one line naming it, exit 2."""
    assert main(["validate", str(experiment(tmp_path, routes))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_grpc_route_is_prepared_and_survives_the_plans_round_trip() -> None:
    """Method GRPC, the full method with its slash, the message as compact JSON or raw
    bytes; the plan's JSON round trip keeps the route."""
    data = {
        "routes": [
            {"name": "a", "grpc": {"service": "catalog", "method": "x.Y/Z", "message": [1]}},
            {"name": "b", "grpc": {"service": "catalog", "message_base64": "AAEC"}},
            {"name": "c", "grpc": {"service": "catalog"}},
        ]
    }
    spec = model_from_data(data, LoadSpec, "x")
    assert LoadSpec.model_validate_json(spec.model_dump_json()) == spec
    prepared = [PreparedRoute.of(route) for route in spec.routes]
    assert [p.method for p in prepared] == ["GRPC"] * 3
    assert [p.body for p in prepared] == [b"[1]", b"\x00\x01\x02", b"{}"]
    assert prepared[0].grpc is not None and prepared[0].grpc.full_method == "/x.Y/Z"


def test_a_calls_code_makes_its_status_and_error() -> None:
    """OK is 200; server-error codes are 5xx (failures); client-side codes are not."""
    assert grpc_outcome(0, "") == (200, "")
    assert grpc_outcome(14, "injected") == (503, "grpc UNAVAILABLE: injected")
    assert grpc_outcome(4, "") == (504, "grpc DEADLINE_EXCEEDED")
    assert grpc_outcome(13, "x")[0] == 500 and grpc_outcome(12, "")[0] == 501
    assert grpc_outcome(8, "")[0] == 429 and grpc_outcome(1, "")[0] == 499
    assert grpc_outcome(5, "")[0] == 404


def test_the_deadline_never_passes_the_loads_timeout() -> None:
    """A route's deadline is used as it is below the load's timeout, cut to it above."""
    assert call_timeout(None, 10.0) == 10.0
    assert call_timeout(0.3, 10.0) == 0.3
    assert call_timeout(30.0, 10.0) == 10.0


def test_a_grpc_route_without_an_address_is_refused(tmp_path: Path) -> None:
    """The driver refuses a gRPC route to a service the deployment gives no address for."""
    from harness.errors import RunError
    from harness.load.driver import LoadDriver

    spec = model_from_data(
        {"routes": [{"name": "c", "grpc": {"service": "catalog"}}]}, LoadSpec, "x"
    )
    with pytest.raises(RunError, match="no address for the grpc service"):
        LoadDriver(spec, "http://127.0.0.1:1", tmp_path, None, grpc_targets={})
    driver = LoadDriver(
        spec, "http://127.0.0.1:1", tmp_path, None, grpc_targets={"catalog": "127.0.0.1:2"}
    )
    assert driver.plan.grpc_targets == {"catalog": "127.0.0.1:2"}
