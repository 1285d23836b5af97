"""The target file model: every part of an external mesh, one-line errors, resolved paths."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from mesh_runtime.errors import InvalidInput, TargetError
from mesh_runtime.target import (
    INGRESS_SERVICE,
    IngressAccess,
    PrometheusAccess,
    TargetFile,
    load_target,
)

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "experiments" / "targets").glob("*.yaml"))

MINIMAL = {
    "name": "staging",
    "mesh": "istio",
    "ingress": {"url": "http://127.0.0.1:8080"},
    "prometheus": {"url": "http://127.0.0.1:9090"},
}


def write(tmp_path: Path, data: object, name: str = "target.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def error_of(tmp_path: Path, data: object) -> str:
    with pytest.raises(TargetError) as caught:
        load_target(write(tmp_path, data))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_every_field_is_documented() -> None:
    """Each field of the target file's models has a docstring (the file's reference)."""
    from pydantic import BaseModel

    import mesh_runtime.target as module

    models = [
        m
        for m in vars(module).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == module.__name__
    ]
    undocumented = []
    for model in models:
        for name, field in model.model_fields.items():
            if name in ("ingress", "prometheus") and model is TargetFile:
                continue  # documented by their own models' docstrings
            if not field.description and not _attribute_docstring(model, name):
                undocumented.append(f"{model.__name__}.{name}")
    assert undocumented == []


def _attribute_docstring(model: type, name: str) -> bool:
    import ast
    import inspect

    for klass in model.__mro__:
        try:
            tree = ast.parse(inspect.getsource(klass).lstrip())
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for here, after in itertools.pairwise(body):
            target = getattr(here, "target", None)
            if isinstance(target, ast.Name) and target.id == name:
                value = getattr(after, "value", None)
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    return True
    return False


def test_minimal_target_has_defaults(tmp_path: Path) -> None:
    """Name, mesh, ingress and Prometheus are enough; the call graph is one service."""
    target = load_target(write(tmp_path, MINIMAL))
    assert target.kubernetes is None and target.toxiproxy is None and target.traces is None
    topology = target.topology()
    assert list(topology.services) == [INGRESS_SERVICE]
    assert topology.ingress == INGRESS_SERVICE
    assert target.ingress.request_headers() == {}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_shipped_examples_load(example: Path) -> None:
    """Every target file in experiments/targets/ validates."""
    target = load_target(example)
    assert target.name == example.stem


def test_paths_resolve_against_the_file_and_must_exist(tmp_path: Path) -> None:
    """Relative paths are taken from the target file's folder; a missing one is named."""
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("x")
    data = {**MINIMAL, "ingress": {"url": "https://gw", "ca_file": "certs/ca.pem"}}
    target = load_target(write(tmp_path, data))
    assert target.ingress.ca_file == (tmp_path / "certs" / "ca.pem").resolve()
    data["prometheus"] = {"url": "http://p:9090", "bearer_token_file": "token"}
    message = error_of(tmp_path, data)
    assert message == (
        f"{tmp_path / 'target.yaml'}: prometheus.bearer_token_file: no such file: "
        f"{(tmp_path / 'token').resolve()}"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"mesh": "kuma"}, "mesh: Input should be 'istio', 'linkerd', 'consul' or 'meshproof'"),
        ({"name": "Staging"}, "name: expected a lowercase name"),
        ({"ingress": {"url": "ftp://x"}}, "ingress.url: expected an http:// or https:// URL"),
        ({"ingress": {"url": "http://x", "hots": "a"}}, "ingress.hots: unknown field"),
        (
            {"ingress": {"url": "http://127.0.0.1:99999"}},
            "ingress.url: 'http://127.0.0.1:99999': the port must be a number from 1 to 65535",
        ),
        ({"prometheus": {"url": "http://p:0"}}, "prometheus.url: 'http://p:0': the port must"),
        ({"toxiproxy": {"url": "http://t:x"}}, "toxiproxy.url: 'http://t:x': the port must"),
        (
            {"prometheus": {"url": "http://p:9090/?g0.expr=up"}},
            "prometheus.url: 'http://p:9090/?g0.expr=up': a base URL takes no ?query",
        ),
        ({"ingress": {"url": "http://x/#top"}}, "ingress.url: 'http://x/#top': a base URL"),
        (
            {"ingress": {"url": "http://x", "headers": {"Host": "a"}}},
            "ingress.headers: give the Host header as ingress.host",
        ),
        (
            {
                "ingress": {
                    "url": "https://x",
                    "ca_file": "/etc/hostname",
                    "insecure_skip_verify": True,
                }
            },
            "ingress: give ca_file or insecure_skip_verify, not both",
        ),
        (
            {"ingress": {"url": "https://x", "client_key": "/etc/hostname"}},
            "ingress: client_key needs client_cert",
        ),
        (
            {"prometheus": {"url": "http://p", "matchers": {"name-space": "shop"}}},
            "prometheus.matchers: 'name-space' is not a Prometheus label name",
        ),
        (
            {"kubernetes": {"namespaces": []}},
            "kubernetes.namespaces: List should have at least 1 item",
        ),
        ({"kubernetes": {"namespaces": ["Shop"]}}, "'Shop' is not a Kubernetes namespace name"),
        ({"kubernetes": {}}, "kubernetes.namespaces: required field is missing"),
        ({"traces": {"listen": "4318"}}, "traces.listen: expected HOST:PORT"),
        (
            {"traces": {"listen": "127.0.0.1:4318", "forward": "jaeger:4318"}},
            "traces.forward: expected an OTLP/HTTP URL",
        ),
        (
            {
                "prometheus": {"url": "http://p", "matchers": {"namespace": "other"}},
                "kubernetes": {"namespaces": ["shop"]},
            },
            "prometheus.matchers.namespace: 'other' is outside kubernetes.namespaces (shop)",
        ),
        ({"traces": {"listen": "127.0.0.1:4318"}}, "traces: needs services"),
        (
            {"services": {"a": {"ingress": True, "calls": ["b"]}}},
            "services.a.calls: unknown service 'b'",
        ),
        ({"services": {"a": {}, "b": {}}}, "exactly one service must have ingress: true"),
        (
            {
                "services": {"a": {"ingress": True}, "b": {}},
                "toxiproxy": {"url": "http://t:8474", "proxies": [{"name": "p", "edge": "a->b"}]},
            },
            "toxiproxy.proxies[0].edge: a->b is not an edge of services",
        ),
        (
            {"toxiproxy": {"url": "http://t:8474", "proxies": [{"name": "p", "edge": "a"}]}},
            "toxiproxy.proxies[0].edge: expected an edge like 'frontend->catalog'",
        ),
    ],
)
def test_bad_target_is_one_line_naming_the_field(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    """Each mistake is one TargetError line with the file, the field path and the problem."""
    message = error_of(tmp_path, {**MINIMAL, **change})
    assert message.startswith(f"{tmp_path / 'target.yaml'}: ")
    assert expected in message


def test_experiment_given_as_target_is_named(tmp_path: Path) -> None:
    """An experiment file where a target file belongs says what it is."""
    message = error_of(tmp_path, {"title": "x", "target": {"topology": "t.yaml"}})
    assert "this is an experiment file" in message


def test_topology_given_as_target_is_named(tmp_path: Path) -> None:
    """A topology where a target file belongs says what it is, not which target field it
    lacks: a shipped one (its `mesh:` a mapping) and one without `mesh:`."""
    bare = write(tmp_path, {"name": "t", "services": {"a": {"ingress": True}}})
    for path in (REPO / "experiments" / "topologies" / "shop.yaml", bare):
        with pytest.raises(TargetError) as caught:
            load_target(path)
        assert "this is a topology file" in str(caught.value)


def test_target_error_is_invalid_input() -> None:
    """Bad target files exit 2 like every bad input."""
    assert issubclass(TargetError, InvalidInput)
    from harness.cli.main import exit_code_of_error

    assert exit_code_of_error(TargetError("f", "name", "x")) == 2


def test_ingress_headers_and_server_name() -> None:
    """The Host header and extra headers go on every request; the TLS name is the Host's."""
    ingress = IngressAccess(
        url="https://10.0.0.1:8443/", host="shop.example:443", headers={"x": "1"}
    )
    assert ingress.url == "https://10.0.0.1:8443"
    assert ingress.request_headers() == {"x": "1", "Host": "shop.example:443"}
    assert ingress.server_name == "shop.example"
    assert ingress.tls
    assert IngressAccess(url="http://gw.example").server_name == "gw.example"


def test_prometheus_selector_token_and_verify(tmp_path: Path) -> None:
    """Matchers become selector text; the token is read from its file when used."""
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    access = PrometheusAccess(
        url="https://p:9090", bearer_token_file=token, matchers={"namespace": "shop", "a": 'x"y'}
    )
    assert access.selector() == 'a="x\\"y",namespace="shop"'
    assert access.headers() == {"Authorization": "Bearer s3cret"}
    assert access.verify() is True
    assert PrometheusAccess(url="http://p", insecure_skip_verify=True).verify() is False
    token.unlink()
    with pytest.raises(TargetError, match="cannot read the token"):
        access.headers()


def test_call_graph_becomes_the_topology(tmp_path: Path) -> None:
    """services: and the proxied edges make the analysis' topology."""
    data = {
        **MINIMAL,
        "services": {"gw": {"ingress": True, "calls": ["api"]}, "api": {}},
        "toxiproxy": {
            "url": "http://t:8474",
            "proxies": [{"name": "gw--api", "edge": "gw -> api"}],
        },
    }
    topology = load_target(write(tmp_path, data)).topology()
    assert topology.call_graph() == {"gw": ["api"], "api": []}
    assert [e.name for e in topology.proxied_edges()] == ["gw->api"]
    assert topology.name == "staging"


def test_kubeconfig_default(tmp_path: Path) -> None:
    """No kubeconfig: $KUBECONFIG's first file, else ~/.kube/config."""
    data = {**MINIMAL, "kubernetes": {"namespaces": ["shop"]}}
    kube = load_target(write(tmp_path, data)).kubernetes
    assert kube is not None
    assert kube.kubeconfig_path({"KUBECONFIG": "/a:/b"}) == Path("/a")
    assert kube.kubeconfig_path({}) == Path.home() / ".kube" / "config"
    assert kube.allows("shop") and not kube.allows("kube-system")
