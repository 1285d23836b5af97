"""The pure parts of the Kubernetes side: resource paths, CRD reading and readiness,
the local API server's token file and kubeconfig."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.kube.crds import crd_files, default_crd_dir, is_established, load_crds
from harness.kube.credentials import User, kubeconfig_document, token_file_rows
from mesh_runtime.errors import InvalidInput
from mesh_runtime.kube.client import KubeClient
from mesh_runtime.kube.resources import CRD, NAMESPACE, POD, VIRTUAL_SERVICE


def test_resource_paths() -> None:
    """Grouped, core and cluster-scoped resources get the paths the API server serves."""
    assert VIRTUAL_SERVICE.path("shop", "catalog") == (
        "/apis/networking.istio.io/v1/namespaces/shop/virtualservices/catalog"
    )
    assert VIRTUAL_SERVICE.path() == "/apis/networking.istio.io/v1/virtualservices"
    assert POD.path("shop") == "/api/v1/namespaces/shop/pods"
    assert NAMESPACE.path("ignored", "shop") == "/api/v1/namespaces/shop"
    assert CRD.path(None, "a.b") == "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/a.b"
    assert str(VIRTUAL_SERVICE) == "virtualservices.networking.istio.io"
    assert POD.api_version == "v1" and VIRTUAL_SERVICE.api_version == "networking.istio.io/v1"


def test_load_crds_keeps_only_crds(tmp_path: Path) -> None:
    """Documents of other kinds and empty documents are skipped; files are read in order."""
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.yaml").write_text(
        "---\n# a comment only\n---\nkind: CustomResourceDefinition\nmetadata: {name: two.x}\n"
    )
    (tmp_path / "one.yaml").write_text(
        "kind: ValidatingAdmissionPolicy\n---\nkind: CustomResourceDefinition\n"
        "metadata: {name: one.x}\n"
    )
    files = crd_files(tmp_path)
    assert [f.name for f in files] == ["two.yaml", "one.yaml"]  # b/two.yaml sorts first
    assert [c["metadata"]["name"] for c in load_crds(files)] == ["two.x", "one.x"]


def test_load_crds_bad_yaml_is_invalid_input(tmp_path: Path) -> None:
    """A file that is no YAML is InvalidInput naming it."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    with pytest.raises(InvalidInput, match=r"bad\.yaml"):
        load_crds([bad])


def test_established_needs_both_conditions() -> None:
    """A CRD counts as served only with Established and NamesAccepted both True."""
    both = {
        "status": {
            "conditions": [
                {"type": "NamesAccepted", "status": "True"},
                {"type": "Established", "status": "True"},
            ]
        }
    }
    assert is_established(both)
    assert not is_established(
        {"status": {"conditions": [{"type": "Established", "status": "True"}]}}
    )
    assert not is_established({})


def test_default_crd_dir(tmp_path: Path) -> None:
    """$MESHPROOF_KUBE_CRDS wins; else .tools/kube/crds of the repository."""
    assert default_crd_dir({"MESHPROOF_KUBE_CRDS": "/x"}, tmp_path) == Path("/x")
    assert default_crd_dir({}, tmp_path) == tmp_path / ".tools/kube/crds"


def test_token_file_and_kubeconfig() -> None:
    """Token rows carry name, uid and groups; the kubeconfig has a context per user, first current."""
    admin = User("admin", ("system:masters",), token="t1")
    viewer = User("viewer", token="t2")
    assert token_file_rows([admin, viewer]) == [
        ["t1", "admin", "admin", "system:masters"],
        ["t2", "viewer", "viewer", ""],
    ]
    doc = kubeconfig_document("https://127.0.0.1:1", Path("/ca.crt"), [admin, viewer])
    parsed = yaml.safe_load(yaml.safe_dump(doc))
    assert parsed["current-context"] == "admin"
    assert [c["name"] for c in parsed["contexts"]] == ["admin", "viewer"]
    assert parsed["users"][1] == {"name": "viewer", "user": {"token": "t2"}}
    assert parsed["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:1",
        "certificate-authority": "/ca.crt",
    }


def test_connect_refuses_a_missing_kubeconfig(tmp_path: Path) -> None:
    """A kubeconfig that does not exist is InvalidInput naming it; nothing is sent."""
    missing = tmp_path / "nope.kubeconfig"
    with pytest.raises(InvalidInput, match="no such kubeconfig file") as refused:
        KubeClient.connect(missing)
    assert str(missing) in str(refused.value)


def test_connect_refuses_an_unknown_context(tmp_path: Path) -> None:
    """A context the kubeconfig does not have is InvalidInput listing the ones it has."""
    kubeconfig = tmp_path / "kubeconfig"
    doc = kubeconfig_document("https://127.0.0.1:1", tmp_path / "ca.crt", [User("admin")])
    kubeconfig.write_text(yaml.safe_dump(doc))
    with pytest.raises(InvalidInput, match=r"no context 'staging' \(it has: admin\)"):
        KubeClient.connect(kubeconfig, context="staging")


@pytest.mark.parametrize(
    "text",
    [
        "meshproof-node\n",  # a plain word: /etc/hostname given by mistake
        "- a\n- list\n",
        "contexts: [unclosed\n",
        "contexts: 5\ncurrent-context: x\n",
        "",
    ],
)
def test_connect_refuses_a_file_that_is_no_kubeconfig(tmp_path: Path, text: str) -> None:
    """A file that is not a kubeconfig is one InvalidInput naming it, never a TypeError."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(text)
    with pytest.raises(InvalidInput) as refused:
        KubeClient.connect(kubeconfig)
    assert str(kubeconfig) in str(refused.value)
    assert "\n" not in str(refused.value)
