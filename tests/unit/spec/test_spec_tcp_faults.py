"""Faults a `protocol: tcp` service never applies are refused by validate, in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli.main import main

TOPOLOGIES = Path(__file__).resolve().parents[3] / "experiments" / "topologies"


def experiment(tmp_path: Path, fault: str) -> Path:
    """exp.yaml on shop-tcp (kv is `protocol: tcp`, two replicas) with this one fault."""
    (tmp_path / "topologies").mkdir()
    shutil.copy(TOPOLOGIES / "shop-tcp.yaml", tmp_path / "topologies" / "shop-tcp.yaml")
    path = tmp_path / "exp.yaml"
    path.write_text(
        "title: t\ntarget: {topology: topologies/shop-tcp.yaml}\n"
        "load: {duration: 10s, routes: [{name: shop, path: /kv}]}\n"
        f"faults: [{fault}]\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "{name: f, kind: mesh_fault, target: kv, params: {abort: {httpStatus: 503,"
            " percentage: {value: 50}}}}",
            "faults[0].target: kv speaks tcp: a mesh_fault is HTTP fault injection",
        ),
        (
            "{name: f, kind: mesh_fault, target: kv-1, params: {delay: {fixedDelay: 1s,"
            " percentage: {value: 50}}}}",
            "faults[0].target: kv speaks tcp: a mesh_fault is HTTP fault injection",
        ),
        (
            "{name: f, kind: service_behaviour, target: kv-0, params: {error_rate: 0.5}}",
            "faults[0].target: kv speaks tcp: its key-value store has no behaviour API",
        ),
        (
            "{name: f, kind: policy, target: kv, params: {http: [{name: default,"
            " retries: {attempts: 3}}]}}",
            "faults[0].params.http: kv speaks tcp: its sidecars proxy it at L4",
        ),
    ],
)
def test_an_l7_fault_on_a_tcp_service_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str, message: str
) -> None:
    """An HTTP fault, behaviour change or http route on kv: exit 2, one line naming the
    field and an L4 fault to use instead, where it validated and then did nothing (or
    failed mid-run reaching a behaviour API kv does not have)."""
    path = experiment(tmp_path, fault)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"meshproof: {path}: {message}")
    assert "use a toxic or proxy_down" in err or "trafficPolicy" in err


@pytest.mark.parametrize(
    "fault",
    [
        "{name: f, kind: toxic, target: gateway->kv, params: {type: latency,"
        " attributes: {latency: 100}}}",
        "{name: f, kind: policy, target: kv, params: {trafficPolicy: {connectionPool:"
        " {tcp: {maxConnections: 1}}}}}",
        "{name: f, kind: service_behaviour, target: cart, params: {error_rate: 0.5}}",
        "{name: f, kind: mesh_fault, target: cart, params: {abort: {httpStatus: 503,"
        " percentage: {value: 50}}}}",
    ],
)
def test_l4_faults_on_a_tcp_service_and_l7_faults_elsewhere_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    """A toxic or a trafficPolicy change on kv, and L7 faults on cart (http), still pass."""
    assert main(["validate", str(experiment(tmp_path, fault))]) == 0
    assert capsys.readouterr().out.startswith("ok: t")
