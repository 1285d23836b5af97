"""`meshproof target check` against a real kube-apiserver: the API reachable, the mesh's
CRDs there, and a SelfSubjectAccessReview per call the faults make; a Role lacking one
verb is named, a missing CRD and a namespace that does not exist are named, nothing is
changed, and an unreachable server is one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from harness.cli.main import main
from harness.target.access import needed_permissions
from harness.target.check import check_crds, check_kubernetes
from mesh_runtime.kube.resources import NAMESPACE, ROLE, ROLE_BINDING, VIRTUAL_SERVICE, Resource
from mesh_runtime.target import KubernetesAccess
from tests.fixtures.kube import VIEWER, viewer_namespace, viewer_role

if TYPE_CHECKING:
    from harness.kube.testing import LocalApiServer
    from mesh_runtime.kube.client import KubeClient

PARTIAL = "target-partial"


def role_lacking(
    namespace: str, verb: str, plural: str
) -> tuple[dict[str, object], dict[str, object]]:
    """A Role with every permission Istio's faults need except `verb` on `plural`, for the viewer."""
    rules: dict[tuple[str, str], list[str]] = {}
    for permission in needed_permissions("istio"):
        resource = permission.resource
        if permission.verb == verb and resource.plural == plural:
            continue
        rules.setdefault((resource.group, resource.plural), []).append(permission.verb)
    rule_list: list[dict[str, object]] = [
        {"apiGroups": [group], "resources": [plural_], "verbs": verbs}
        for (group, plural_), verbs in rules.items()
    ]
    return viewer_role(namespace, "faults", "viewer-faults", rule_list)


def namespace_lacking(
    server: LocalApiServer, namespace: str, verb: str, plural: str
) -> Iterator[str]:
    """`namespace`, where the viewer may do all Istio's faults need except `verb` on `plural`."""
    with server.client() as kube:
        viewer_namespace(kube, namespace, role_lacking(namespace, verb, plural))
        yield namespace
        kube.delete(NAMESPACE, None, namespace)


@pytest.fixture(scope="module")
def partial_namespace(local_apiserver: LocalApiServer) -> Iterator[str]:
    """A namespace where the viewer may do all Istio's faults need except delete destinationrules."""
    yield from namespace_lacking(local_apiserver, PARTIAL, "delete", "destinationrules")


def test_admin_may_everything_and_the_crds_are_there(local_apiserver: LocalApiServer) -> None:
    """With the admin's context every mesh's CRDs and calls check out."""
    for mesh in ("istio", "linkerd", "consul", "meshproof"):
        access = KubernetesAccess(kubeconfig=local_apiserver.kubeconfig, namespaces=["shop"])
        checks = check_kubernetes(access, mesh, 10.0)  # type: ignore[arg-type]
        assert [c.part for c in checks] == ["kubernetes", "crds", "access shop"]
        assert all(c.ok for c in checks), [c.line() for c in checks]
        assert checks[0].detail.endswith(": v1.36.3")


def test_a_role_lacking_a_verb_is_named(
    local_apiserver: LocalApiServer, partial_namespace: str
) -> None:
    """The viewer's Role lacks `delete destinationrules`: exactly that is named."""
    access = KubernetesAccess(
        kubeconfig=local_apiserver.kubeconfig, context=VIEWER, namespaces=[partial_namespace]
    )
    checks = check_kubernetes(access, "istio", 10.0)
    line = checks[-1]
    assert not line.ok
    assert line.detail == (
        "the credentials may not: delete destinationrules.networking.istio.io (in namespace"
        f" {partial_namespace}; the faults need them)"
    )


def test_the_shop_viewer_lacks_every_write(local_apiserver: LocalApiServer) -> None:
    """In `shop` the viewer may only read VirtualServices: every write is named."""
    access = KubernetesAccess(
        kubeconfig=local_apiserver.kubeconfig, context=VIEWER, namespaces=["shop"]
    )
    detail = check_kubernetes(access, "istio", 10.0)[-1].detail
    assert "patch virtualservices.networking.istio.io" in detail
    assert "get virtualservices.networking.istio.io" not in detail


def test_missing_crd_and_unserved_version(viewer: KubeClient) -> None:
    """A resource without a CRD, or a version its CRD does not serve, is named; a user who
    may not read CRDs can still tell (API discovery)."""
    widgets = Resource("example.meshproof.io", "v1", "widgets", "Widget")
    v9 = Resource(VIRTUAL_SERVICE.group, "v9", VIRTUAL_SERVICE.plural, VIRTUAL_SERVICE.kind)
    check = check_crds(viewer, [VIRTUAL_SERVICE, widgets, v9])
    assert not check.ok
    assert check.detail == (
        "not served (is the CRD installed?): widgets.example.meshproof.io v1,"
        " virtualservices.networking.istio.io v9"
    )


def test_namespace_that_does_not_exist(local_apiserver: LocalApiServer) -> None:
    """A listed namespace the cluster does not have fails its line."""
    access = KubernetesAccess(kubeconfig=local_apiserver.kubeconfig, namespaces=["no-such-ns"])
    check = check_kubernetes(access, "istio", 10.0)[-1]
    assert (check.ok, check.detail) == (False, "namespace no-such-ns does not exist")


def test_cli_exit_codes_and_nothing_changed(
    local_apiserver: LocalApiServer,
    kube: KubeClient,
    partial_namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`target check`: a line per part, exit 2 when one fails; the namespace is unchanged."""
    before = {
        r.plural: kube.list(r, partial_namespace) for r in (VIRTUAL_SERVICE, ROLE, ROLE_BINDING)
    }
    target = kube_only_target(local_apiserver, [partial_namespace])
    path = tmp_path / "kube-only.yaml"
    path.write_text(yaml.safe_dump(target))
    assert main(["target", "check", str(path)]) == 2
    lines = capsys.readouterr().out.splitlines()
    parts = [line.split()[0] for line in lines[1:-1]]
    assert parts == ["ingress", "prometheus", "kubernetes", "crds", "access", "toxiproxy", "traces"]
    by_part = {line.split()[0]: line for line in lines[1:-1]}
    assert "FAIL" in by_part["ingress"] and "no answer" in by_part["ingress"]
    assert "FAIL" in by_part["prometheus"] and "no answer" in by_part["prometheus"]
    assert " ok " in by_part["kubernetes"] and " ok " in by_part["crds"]
    assert "may not: delete destinationrules" in by_part["access"]
    assert lines[-1].startswith("FAIL: ingress, prometheus, access target-partial")
    after = {
        r.plural: kube.list(r, partial_namespace) for r in (VIRTUAL_SERVICE, ROLE, ROLE_BINDING)
    }
    assert after == before


def test_unreachable_api_server_is_one_line(
    tmp_path: Path, local_apiserver: LocalApiServer
) -> None:
    """An API server that does not answer: one kubernetes line, nothing after it."""
    config = yaml.safe_load(local_apiserver.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{_closed_port()}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    checks = check_kubernetes(
        KubernetesAccess(kubeconfig=kubeconfig, namespaces=["shop"]), "istio", 3.0
    )
    assert len(checks) == 1 and not checks[0].ok
    assert "unreachable" in checks[0].detail and "\n" not in checks[0].detail


def kube_only_target(server: LocalApiServer, namespaces: list[str]) -> dict[str, object]:
    """A target file (as data) whose ingress and Prometheus do not answer, with the viewer's
    access to `namespaces` of the local API server."""
    dead = _closed_port()
    return {
        "name": "kube-only",
        "mesh": "istio",
        "ingress": {"url": f"http://127.0.0.1:{dead}"},
        "prometheus": {"url": f"http://127.0.0.1:{dead}"},
        "kubernetes": {
            "kubeconfig": str(server.kubeconfig),
            "context": VIEWER,
            "namespaces": namespaces,
        },
    }


def _closed_port() -> int:
    """A port nothing listens on (bound, read and closed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


NO_UPDATE = "target-noupdate"


@pytest.fixture(scope="module")
def no_update_namespace(local_apiserver: LocalApiServer) -> Iterator[str]:
    """A namespace where the viewer may do all Istio's faults need except update VirtualServices."""
    yield from namespace_lacking(local_apiserver, NO_UPDATE, "update", "virtualservices")


def test_experiments_narrow_the_check_to_their_calls(
    local_apiserver: LocalApiServer,
    partial_namespace: str,
    no_update_namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With --experiment only the experiments' calls are asked for: a DestinationRule patch
    needs no delete (so the Role lacking it will do), an istio_fault's rollback PUT needs
    update (the other Role lacks it: named); a namespace without faults is not checked."""
    from harness.spec.check import check_experiment
    from harness.target.access import experiment_needs

    target = tmp_path / "kube-only.yaml"
    namespaces = [partial_namespace, no_update_namespace]
    target.write_text(yaml.safe_dump(kube_only_target(local_apiserver, namespaces)))
    policy = {
        "name": "eject-fast",
        "kind": "istio_policy",
        "target": "destinationrule/catalog",
        "namespace": partial_namespace,
        "at": "1s",
        "duration": "2s",
        "params": {"patch": {"outlierDetection": {"consecutive5xxErrors": 1}}},
    }
    abort = {
        "name": "abort",
        "kind": "istio_fault",
        "target": "catalog",
        "namespace": no_update_namespace,
        "at": "1s",
        "duration": "2s",
        "params": {"abort": {"httpStatus": 503, "percentage": 10}},
    }
    access = KubernetesAccess(
        kubeconfig=local_apiserver.kubeconfig, context=VIEWER, namespaces=namespaces
    )

    def lines_for(*faults: dict[str, object]) -> dict[str, tuple[bool, bool, str]]:
        path = tmp_path / "exp.yaml"
        load = {"rps": 5, "warmup": "1s", "duration": "5s"}
        path.write_text(
            yaml.safe_dump(
                {
                    "title": "t",
                    "target": {"external": str(target)},
                    "load": load,
                    "faults": list(faults),
                }
            )
        )
        checked = check_experiment(path)
        needs = experiment_needs(checked.experiment.faults, namespaces)
        found = check_kubernetes(access, "istio", 10.0, needs)
        return {c.part: (c.ok, c.checked, c.detail) for c in found}

    only_policy = lines_for(policy)
    assert only_policy[f"access {partial_namespace}"][:2] == (True, True)
    assert only_policy[f"access {no_update_namespace}"] == (
        True,
        False,
        "the experiments make no call here",
    )
    both = lines_for(policy, abort)
    ok, _, detail = both[f"access {no_update_namespace}"]
    assert not ok
    assert detail.startswith("the credentials may not: update virtualservices.networking.istio.io")

    path = tmp_path / "exp.yaml"
    assert main(["target", "check", str(target), "--experiment", str(path)]) == 2
    out = capsys.readouterr().out
    assert f"access {no_update_namespace}" in out and "may not: update virtualservices" in out
