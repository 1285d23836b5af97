"""Which processes of a deployment are asked to flush their spans, and where."""

from __future__ import annotations

from harness.observe.span_flush import SpanProducer, span_producers
from mesh_runtime.runtimes.deployment import Deployment, InstanceRecord, ProcessRecord


def process(role: str, name: str, *flags: str) -> ProcessRecord:
    command = ["python", "-m", f"mesh_runtime.{role}", *flags]
    return ProcessRecord.model_validate(
        {"role": role, "name": name, "pid": 1, "ports": {}, "create_time": 0.0, "command": command}
    )


def test_sidecars_on_their_admin_port_services_on_their_own_only_those_that_export() -> None:
    """A sidecar is asked on its admin port (with the token), a service on its app port;
    a process without --otlp-endpoint (a tcp service, the sink) is not asked; one whose
    instance has no port is named as unreachable."""
    otlp = ("--otlp-endpoint", "http://127.0.0.1:9/v1/traces")
    deployment = Deployment(
        topology_file="t.yaml",
        ingress_url="http://127.0.0.1:1",
        work_dir="/tmp/w",
        instances=[
            InstanceRecord(service="a", instance="a-0", version="v1", app_port=11, admin_port=12),
            InstanceRecord(service="kv", instance="kv-0", version="v1", app_port=21),
            InstanceRecord(service="b", instance="b-0", version="v1", app_port=31),
        ],
        processes=[
            process("trace-sink", "trace-sink", "--port", "9"),
            process("service", "a-0", *otlp),
            process("sidecar", "a-0-sidecar", *otlp),
            process("service", "kv-0"),
            process("sidecar", "b-0-sidecar", *otlp),
        ],
    )
    producers, unreachable = span_producers(deployment)
    assert producers == [
        SpanProducer("a-0", "http://127.0.0.1:11/_spans/flush", guarded=False),
        SpanProducer("a-0-sidecar", "http://127.0.0.1:12/spans/flush", guarded=True),
    ]
    assert unreachable == ["b-0-sidecar"]
