"""An experiment against an external target: `target: {external: FILE}` or `--target FILE`;
faults that need the reference mesh, a missing proxy or a namespace outside the target's
list refused in one line before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter

from harness.cli.main import main
from harness.engine.runner import RunOptions, chosen_runtime
from harness.errors import ExperimentError
from harness.spec.check import check_experiment
from harness.spec.fault_base import FaultBase
from harness.spec.faults import FAULT_MODELS, FaultSpec, ProxyDownFault, ToxicFault, kinds_of
from harness.spec.kube_faults import KubeFaultBase
from mesh_runtime.errors import InvalidInput, TargetError
from mesh_runtime.target import TargetFile

REPO = Path(__file__).resolve().parents[3]
SHOP = REPO / "experiments" / "topologies" / "shop.yaml"

TARGET = {
    "name": "staging",
    "mesh": "linkerd",
    "ingress": {"url": "http://127.0.0.1:8080", "host": "shop"},
    "prometheus": {"url": "http://127.0.0.1:9090"},
    "kubernetes": {"namespaces": ["shop"]},
    "toxiproxy": {
        "url": "http://127.0.0.1:8474",
        "proxies": [
            {"name": "frontend--catalog-0", "edge": "frontend->catalog", "instance": "catalog-0"},
            {"name": "frontend--catalog-1", "edge": "frontend->catalog", "instance": "catalog-1"},
        ],
    },
    "services": {
        "gateway": {"ingress": True, "calls": ["frontend"]},
        "frontend": {"calls": ["catalog"]},
        "catalog": {},
    },
}
TOXIC = {
    "name": "slow",
    "kind": "toxic",
    "target": "frontend->catalog-1",
    "at": "2s",
    "duration": "3s",
    "params": {"type": "latency", "attributes": {"latency": 50}},
}


def files(
    tmp_path: Path, target_file: dict[str, object], **experiment: object
) -> tuple[Path, Path]:
    (tmp_path / "targets").mkdir(exist_ok=True)
    target_path = tmp_path / "targets" / "staging.yaml"
    target_path.write_text(yaml.safe_dump(target_file))
    base: dict[str, object] = {
        "title": "t",
        "target": {"external": "targets/staging.yaml"},
        "load": {"rps": 10, "warmup": "1s", "duration": "10s"},
    }
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump({**base, **experiment}))
    return path, target_path


def refusal(path: Path, target: Path | None = None) -> str:
    with pytest.raises(ExperimentError) as caught:
        check_experiment(path, None, target)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_external_target_checks_against_its_call_graph(tmp_path: Path) -> None:
    """`target: {external: ...}` loads the target file; its call graph is the topology."""
    path, target_path = files(tmp_path, TARGET, faults=[TOXIC])
    checked = check_experiment(path)
    assert checked.external is not None and checked.external.mesh == "linkerd"
    assert checked.topology_path == target_path.resolve()
    assert checked.topology.ingress == "gateway"
    assert checked.runtime == "external"


def test_target_option_overrides_a_topology(tmp_path: Path) -> None:
    """`--target FILE` replaces an experiment's topology; the same file runs on both."""
    _, target_path = files(tmp_path, TARGET)
    path = tmp_path / "on-shop.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "title": "t",
                "target": {"topology": str(SHOP)},
                "load": {"rps": 10, "warmup": "1s", "duration": "10s"},
                "faults": [TOXIC],
            }
        )
    )
    assert check_experiment(path).external is None
    checked = check_experiment(path, None, target_path)
    assert checked.external is not None and checked.topology.name == "staging"


REFERENCE_MODELS = [
    m
    for m in FAULT_MODELS
    if m not in (ToxicFault, ProxyDownFault) and not issubclass(m, KubeFaultBase)
]


@pytest.mark.parametrize(
    ("model", "kind"),
    [(m, k) for m in REFERENCE_MODELS for k in kinds_of(m)],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_kinds_needing_the_reference_mesh_are_refused(model: type[FaultBase], kind: str) -> None:
    """Every kind but the network and Kubernetes ones acts on the reference mesh's own parts
    (control plane, sample services, processes, containers): refused on an external mesh."""
    target = TargetFile.model_validate(TARGET)
    problem = model.model_construct(name="f", kind=kind).external_problem(target)
    assert problem is not None
    field, text = problem
    assert field == "kind" and text.startswith(f"{kind} needs the reference mesh")


def test_reference_fault_refused_by_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`meshproof validate` refuses a process fault against an external target: one line, 2."""
    kill = {"name": "kill", "kind": "process_kill", "target": "sidecar:catalog-0", "at": "2s"}
    path, _ = files(tmp_path, TARGET, faults=[kill])
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith(
        f"meshproof: {path}: faults[0].kind: process_kill needs the reference mesh"
    )


def test_toxic_needs_a_proxy_on_the_edge(tmp_path: Path) -> None:
    """A network fault needs the target's Toxiproxy and a proxy on that edge or instance."""
    toxic = {**TOXIC, "target": "frontend->cart"}
    path, _ = files(tmp_path, TARGET, faults=[toxic])
    assert refusal(path).endswith(
        "faults[0].target: no Toxiproxy proxy of the target staging stands on frontend->cart"
        " (proxied: frontend->catalog, frontend->catalog-0, frontend->catalog-1)"
    )
    without = {k: v for k, v in TARGET.items() if k != "toxiproxy"}
    path, _ = files(tmp_path, without, faults=[TOXIC])
    assert "the target staging has no Toxiproxy" in refusal(path)


def test_deploying_options_are_refused_for_an_external_target(tmp_path: Path) -> None:
    """runtime / mode / compare_to mean nothing for a mesh meshproof does not deploy."""
    path, _ = files(
        tmp_path, TARGET, target={"external": "targets/staging.yaml", "runtime": "docker"}
    )
    assert "target.runtime: an external target is not deployed by meshproof" in refusal(path)
    path, _ = files(tmp_path, TARGET, target={"topology": "a", "external": "b"})
    assert "give either topology or external" in refusal(path)
    overhead = tmp_path / "overhead.yaml"
    overhead.write_text(
        yaml.safe_dump(
            {
                "title": "t",
                "target": {"topology": str(SHOP), "compare_to": "no-mesh"},
                "load": {"rps": 10, "warmup": "1s", "duration": "10s"},
            }
        )
    )
    assert "target.compare_to: an external target (staging)" in refusal(
        overhead, tmp_path / "targets" / "staging.yaml"
    )


def test_kubernetes_kinds_use_their_namespace_rule(tmp_path: Path) -> None:
    """A Kubernetes fault on a namespace outside the target's list is refused by validate,
    naming the list; in it (or with none given: the first) it validates; without a
    kubernetes: section such a kind is refused."""
    outside = {**POD_DELETE, "namespace": "kube-system"}
    path, _ = files(tmp_path, TARGET, faults=[outside])
    assert refusal(path).endswith(
        "faults[0].namespace: 'kube-system' is not in the target's kubernetes.namespaces"
        " (shop): meshproof may not touch it"
    )
    path, _ = files(
        tmp_path, TARGET, faults=[POD_DELETE, {**POD_DELETE, "name": "b", "namespace": "shop"}]
    )
    assert check_experiment(path).external is not None
    bare = {key: value for key, value in TARGET.items() if key != "kubernetes"}
    path, _ = files(tmp_path, bare, faults=[POD_DELETE])
    assert "faults[0].kind: pod_delete goes through the Kubernetes API" in refusal(path)
    assert "has no kubernetes: section" in refusal(path)


POD_DELETE = {
    "name": "kill-one",
    "kind": "pod_delete",
    "target": "app=catalog",
    "at": "2s",
    "params": {"count": 1},
}


def test_missing_target_file_and_bad_target_file(tmp_path: Path) -> None:
    """A target file that is missing or invalid is one line naming it."""
    path, target_path = files(tmp_path, TARGET)
    target_path.unlink()
    assert "target.external: no such file" in refusal(path)
    path, target_path = files(tmp_path, {**TARGET, "mesh": "kuma"})
    with pytest.raises(TargetError, match=r"staging.yaml: mesh: "):
        check_experiment(path)


def test_runtime_choice() -> None:
    """An external target runs on the external runtime; --runtime with it is refused."""
    from harness.spec import Experiment

    on_shop = Experiment.model_validate({"title": "t", "target": {"topology": "x"}})
    external = Experiment.model_validate({"title": "t", "target": {"external": "x"}})
    assert chosen_runtime(on_shop, RunOptions()) == "local"
    assert chosen_runtime(on_shop, RunOptions(runtime="docker")) == "docker"
    assert chosen_runtime(on_shop, RunOptions(target=Path("t.yaml"))) == "external"
    assert chosen_runtime(external, RunOptions()) == "external"
    with pytest.raises(InvalidInput, match="--runtime"):
        chosen_runtime(external, RunOptions(runtime="local"))


@pytest.mark.parametrize(
    ("kind", "mesh", "allowed"),
    [
        ("istio_fault", "istio", True),
        ("istio_fault", "meshproof", True),
        ("istio_policy", "linkerd", False),
        ("linkerd_route_split", "linkerd", True),
        ("linkerd_policy", "consul", False),
        ("consul_policy", "consul", True),
        ("consul_policy", "istio", False),
        ("pod_delete", "consul", True),
    ],
)
def test_a_mesh_api_kind_needs_that_mesh(kind: str, mesh: str, allowed: bool) -> None:
    """istio_*, linkerd_* and consul_* faults change that mesh's objects: refused on another."""
    target = TargetFile.model_validate({**TARGET, "mesh": mesh})
    fault = TypeAdapter(FaultSpec).validate_python({"name": "f", **KINDS[kind]})
    problem = fault.external_problem(target)
    assert (problem is None) == allowed
    if problem is not None:
        assert problem[0] == "kind" and f"the target staging is a {mesh} mesh" in problem[1]


KINDS: dict[str, dict[str, object]] = {
    "istio_fault": {"kind": "istio_fault", "target": "catalog",
                    "params": {"abort": {"httpStatus": 503}}},
    "istio_policy": {"kind": "istio_policy", "target": "virtualservice/catalog",
                     "params": {"patch": {"timeout": "1s"}}},
    "linkerd_route_split": {"kind": "linkerd_route_split", "target": "httproute/catalog",
                            "params": {"backends": {"catalog": 1}}},
    "linkerd_policy": {"kind": "linkerd_policy", "target": "service/catalog",
                       "params": {"annotations": {"retry.linkerd.io/http": "5xx"}}},
    "consul_policy": {"kind": "consul_policy", "target": "servicerouter/catalog",
                      "params": {"patch": {"routes": []}}},
    "pod_delete": {"kind": "pod_delete", "target": "app=catalog", "params": {"count": 1}},
}  # fmt: skip


def test_kubernetes_kinds_warnings_travel_with_the_check(tmp_path: Path) -> None:
    """A fault's own `warnings()` become validate's warnings, naming the fault: Istio turns
    off a route's retries and timeout while it has a fault."""
    istio = {**TARGET, "mesh": "istio"}
    fault = {"name": "abort", "at": "2s", **KINDS["istio_fault"]}
    path, _ = files(tmp_path, istio, faults=[TOXIC, fault])
    found = [str(w) for w in check_experiment(path).warnings]
    assert len(found) == 1 and found[0].startswith(f"{path}: faults[1]: Istio does not apply")


def test_experiment_needs_are_the_kubernetes_faults_calls() -> None:
    """Only Kubernetes faults need API calls, in their namespace or the first listed."""
    from harness.target.access import Permission, experiment_needs
    from mesh_runtime.kube.resources import POD

    toxic = TypeAdapter(FaultSpec).validate_python(TOXIC)
    pods = TypeAdapter(FaultSpec).validate_python({"name": "p", **KINDS["pod_delete"]})
    assert experiment_needs([toxic], ["shop"]) == {}
    assert experiment_needs([toxic, pods], ["shop", "other"]) == {
        "shop": (Permission("list", POD), Permission("delete", POD))
    }


def test_a_grpc_route_is_refused_for_an_external_target(tmp_path: Path) -> None:
    """gRPC routes enter through the reference mesh's ingress sidecar: one line, refused."""
    load = {"rps": 10, "duration": "10s", "routes": [{"name": "c", "grpc": {"service": "catalog"}}]}
    path, _ = files(tmp_path, TARGET, load=load)
    problem = refusal(path)
    assert "load.routes[0].grpc" in problem and "the target staging has no grpc ingress" in problem
