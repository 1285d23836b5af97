"""`meshproof run --dry-run` against an external target: every fault in timeline order with
each Kubernetes API call it would make, and none made: the target's kubeconfig names an
API server on a port nothing listens on (any call would fail the run), and no run
directory or state is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.cli.main import main

TARGET = {
    "name": "staging",
    "mesh": "istio",
    "ingress": {"url": "http://127.0.0.1:8080", "host": "shop"},
    "prometheus": {"url": "http://127.0.0.1:9090"},
    "kubernetes": {"kubeconfig": "nowhere.kubeconfig", "namespaces": ["shop", "shop-canary"]},
}
FAULTS = [
    {
        "name": "scale-down",
        "kind": "deployment_scale",
        "target": "catalog",
        "namespace": "shop-canary",
        "at": "8s",
        "duration": "4s",
        "params": {"replicas": 0},
    },
    {
        "name": "abort",
        "kind": "istio_fault",
        "target": "catalog",
        "at": "2s",
        "duration": "5s",
        "params": {"abort": {"httpStatus": 503, "percentage": 10}},
    },
]


KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    "current-context": "x",
}


def experiment(tmp_path: Path, faults: list[dict[str, object]]) -> Path:
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "nowhere.kubeconfig").write_text(yaml.safe_dump(KUBECONFIG))
    (tmp_path / "targets" / "staging.yaml").write_text(yaml.safe_dump(TARGET))
    path = tmp_path / "exp.yaml"
    body = {
        "title": "abort and scale",
        "target": {"external": "targets/staging.yaml"},
        "load": {"rps": 10, "warmup": "1s", "duration": "20s"},
        "faults": faults,
    }
    path.write_text(yaml.safe_dump(body))
    return path


def test_dry_run_prints_every_call_and_makes_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 0; the istio_fault's list, patch and rollback calls in the first namespace, the
    scale's in its own; Istio's retries/timeout warning on stderr; nothing written."""
    path = experiment(tmp_path, FAULTS)
    out_dir, state = tmp_path / "reports", tmp_path / "state"
    args = ["run", str(path), "--dry-run", "--out", str(out_dir), "--state-dir", str(state)]
    assert main(args) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith("dry run, ok: abort and scale (2 faults")
    assert lines[1] == "fault abort (istio_fault on catalog) at 2s for 5s:"
    vs = "/apis/networking.istio.io/v1/namespaces/shop/virtualservices"
    assert f"apply  GET    {vs}  (the VirtualService serving host catalog)" in lines[2]
    assert f"apply  PATCH  {vs}/<it>" in lines[3]
    scale = lines.index("fault scale-down (deployment_scale on catalog) at 8s for 4s:")
    deployment = "/apis/apps/v1/namespaces/shop-canary/deployments/catalog"
    assert [line.split()[:2] for line in lines[scale + 1 : scale + 5]] == [
        ["apply", "GET"],
        ["apply", "PATCH"],
        ["revert", "GET"],
        ["revert", "PUT"],
    ]
    assert all(deployment in line for line in lines[scale + 1 : scale + 5])
    assert lines[-1] == "nothing was deployed, sent or changed"
    assert "Istio does not apply a route's retries and timeout" in captured.err
    assert not out_dir.exists() and not state.exists()


def test_dry_run_refuses_a_namespace_outside_the_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The blast radius holds in a dry run too: one line, exit 2."""
    path = experiment(tmp_path, [{**FAULTS[0], "namespace": "kube-system"}])
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "faults[0].namespace: 'kube-system' is not in the target's" in err[0]


def test_interleaved_faults_on_one_object_warned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """validate warns (exit 0) when two faults change one object with crossing times."""
    second = {**FAULTS[0], "name": "scale-again", "at": "10s", "duration": "6s"}
    path = experiment(tmp_path, [FAULTS[0], second])
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert "faults[1]: changes deployment/catalog as faults[0] ('scale-down') does" in err
