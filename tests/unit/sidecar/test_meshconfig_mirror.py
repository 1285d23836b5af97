"""The sidecar's pydantic-free MeshConfig holds the same schema as mesh_runtime.config's."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import mesh_runtime.config as models
from mesh_runtime.config import mesh, policy, security
from mesh_runtime.errors import InvalidInput
from mesh_runtime.sidecar import meshconfig
from mesh_runtime.sidecar.config_reader import dump_config, load_config_file, read_config
from mesh_runtime.validation import model_from_data

MODELS = {
    value.__name__: value
    for module in (mesh, policy, security)
    for value in vars(module).values()
    if isinstance(value, type) and issubclass(value, BaseModel) and value.model_fields
}

FULL: dict[str, Any] = {
    "version": 7,
    "mesh": {"trustDomain": "example.org", "mtls": "STRICT"},
    "services": {
        "catalog": {
            "name": "catalog",
            "protocol": "grpc",
            "endpoints": [
                {"instance": "catalog-0", "version": "v1", "address": "127.0.0.1:9000"},
                {
                    "instance": "catalog-1",
                    "version": "v2",
                    "address": "127.0.0.1:9001",
                    "via": {"frontend": "127.0.0.1:7000"},
                },
            ],
            "policy": {
                "trafficPolicy": {
                    "loadBalancer": {"simple": "LEAST_REQUEST"},
                    "connectionPool": {
                        "tcp": {
                            "maxConnections": 8,
                            "connectTimeout": "250ms",
                            "idleTimeout": "90s",
                        },
                        "http": {"http1MaxPendingRequests": 0, "idleTimeout": "2m"},
                    },
                    "outlierDetection": {"consecutive5xxErrors": 3, "interval": "1s"},
                },
                "http": [
                    {
                        "name": "canary",
                        "match": [
                            {"uri": {"prefix": "/api"}, "headers": {"x-user": {"regex": "a.*"}}}
                        ],
                        "route": [{"subset": "v1", "weight": 90}, {"subset": "v2", "weight": 10}],
                        "timeout": "1.5s",
                        "retries": {
                            "attempts": 3,
                            "perTryTimeout": "100ms",
                            "retryOn": "5xx,unavailable",
                            "budget": {"budgetPercent": "25%"},
                        },
                        "fault": {
                            "delay": {"fixedDelay": "5s", "percentage": 12.5},
                            "abort": {"grpcStatus": 14},
                        },
                    },
                    {},
                ],
                "mtls": "PERMISSIVE",
                "authorization": [
                    {
                        "name": "frontend-only",
                        "rules": [
                            {
                                "from": [{"source": {"principals": ["*/sa/frontend"]}}],
                                "to": [{"operation": {"methods": ["GET"], "paths": ["/a*"]}}],
                            }
                        ],
                    }
                ],
            },
        },
        "cart": {"name": "cart", "egress": ["catalog"]},
    },
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_has_a_mirror_with_the_same_fields_and_defaults(name: str) -> None:
    """Field names (aliases), order and defaults agree, model by model."""
    model = MODELS[name]
    mirror = getattr(meshconfig, name)
    fields = dataclasses.fields(mirror)
    keys = [f.metadata.get("alias", f.name) for f in fields]
    assert keys == [f.alias or n for n, f in model.model_fields.items()]
    for f, (_, info) in zip(fields, model.model_fields.items(), strict=True):
        if info.is_required():
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
        expected = info.get_default(call_default_factory=True)
        if dataclasses.is_dataclass(default) or isinstance(default, list):
            assert _plain(default) == _plain(expected), f"{name}.{f.name}"
        else:
            assert default == expected, f"{name}.{f.name}"


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, BaseModel):
        return value.model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def test_a_full_config_reads_and_dumps_as_the_models_do() -> None:
    """The pushed JSON form of a config using every field reads back to the same dump."""
    pushed = model_from_data(FULL, models.MeshConfig, "test").model_dump(mode="json")
    config = read_config(pushed, "control plane config")
    assert dump_config(config) == pushed
    assert dump_config(read_config(FULL, "file")) == pushed
    route = config.services["catalog"].policy.http[0]
    assert route.timeout == 1.5
    assert route.retries is not None and route.retries.conditions == {"5xx", "unavailable"}
    assert config.services["catalog"].endpoints[1].address_for("frontend") == "127.0.0.1:7000"
    assert config.services["cart"].policy.http[0].name == "default"


BAD = [
    ({"version": "x"}, "version", "expected an integer"),
    ({"services": {"a": {"name": "a", "endpoints": [{"instance": "a-0"}]}}},
     "services.a.endpoints[0].version", "required field is missing"),
    ({"services": {"a": {"name": "a", "protocl": "tcp"}}}, "services.a.protocl", "unknown field"),
    ({"services": {"a": {"name": "a", "protocol": "udp"}}}, "services.a.protocol", "expected one of"),
    ({"mesh": {"mtls": "ON"}}, "mesh.mtls", "expected one of"),
    ({"services": {"a": {"name": "a", "policy": {"trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 0}}}}}}},
     "services.a.policy.trafficPolicy.connectionPool.tcp.maxConnections", "greater than or equal to 1"),
    ({"services": {"a": {"name": "a", "policy": {"trafficPolicy": {"connectionPool": {"tcp": {"idleTimeout": -1}}}}}}},
     "services.a.policy.trafficPolicy.connectionPool.tcp.idleTimeout", "non-negative duration"),
    ({"services": {"a": {"name": "a", "policy": {"trafficPolicy": {"connectionPool": {"tcp": {"idleTimeout": "a while"}}}}}}},
     "services.a.policy.trafficPolicy.connectionPool.tcp.idleTimeout", "expected a duration"),
    ({"services": {"a": {"name": "a", "policy": {"http": [{"timeout": "soon"}]}}}},
     "services.a.policy.http[0].timeout", "expected a duration"),
    ({"services": {"a": {"name": "a", "policy": {"http": [{"retries": {"retryOn": "5xx,sometimes"}}]}}}},
     "services.a.policy.http[0].retries", "unknown retryOn condition 'sometimes'"),
    ({"services": {"a": {"name": "a", "policy": {"http": [{"route": [{"weight": 50}, {"weight": 20}]}]}}}},
     "services.a.policy.http[0]", "route weights must add up to 100"),
    ({"services": {"a": {"name": "a", "policy": {"http": [{"match": [{"uri": {"regex": "("}}]}]}}}},
     "services.a.policy.http[0].match[0].uri", "not a valid regular expression"),
    ({"services": {"a": {"name": "a", "policy": {"http": [{"fault": {"abort": {"percentage": 5}}}]}}}},
     "services.a.policy.http[0].fault.abort", "exactly one of httpStatus, grpcStatus"),
    ({"services": {"a": {"name": "a", "policy": {"authorization": [{"rules": [{"to": [{"operation": {"methods": ["get"]}}]}]}]}}}},
     "services.a.policy.authorization[0].rules[0].to[0].operation", "upper-case HTTP method"),
    ({"services": {"a": {"name": "a", "policy": {"http": [{"fault": {"delay": {"fixedDelay": "1s", "percentage": 150}}}]}}}},
     "services.a.policy.http[0].fault.delay.percentage", "between 0 and 100"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "path", "problem"), BAD)
def test_bad_config_is_refused_naming_the_field_as_the_models_refuse_it(
    data: dict[str, Any], path: str, problem: str
) -> None:
    """What pydantic refuses the reader refuses, with the field path and the problem."""
    with pytest.raises(InvalidInput):
        model_from_data(data, models.MeshConfig, "test")
    with pytest.raises(InvalidInput) as caught:
        read_config(data, "control plane config")
    assert caught.value.path == path
    assert problem in caught.value.problem


def test_a_yaml_config_file_reads_too(tmp_path: Path) -> None:
    """`--config` takes YAML as well as JSON."""
    path = tmp_path / "mesh.yaml"
    path.write_text("version: 2\nservices:\n  a: {name: a, protocol: tcp}\n")
    assert load_config_file(path).services["a"].protocol == "tcp"


def test_the_sidecar_process_imports_neither_pydantic_nor_yaml() -> None:
    """The sidecar's modules (its __main__ and all it imports) load no pydantic or yaml."""
    code = (
        "import sys, mesh_runtime.sidecar.__main__;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('pydantic', 'pydantic_core', 'yaml', 'email', 'zipfile')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
