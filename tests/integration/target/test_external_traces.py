"""An external target with `traces:`: the harness's own OTLP receiver listens on the given
address for the run (the mesh's collector exports there), its spans file is the run's, and
`down` stops it; a taken address is one line and nothing is left behind (`target check`
says the same)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import requests
import yaml

from mesh_runtime.errors import DeployError
from mesh_runtime.runtimes import deployment as state
from mesh_runtime.runtimes.external import ExternalRuntime
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.runtimes.supervisor import is_running


def target_file(folder: Path, port: int) -> Path:
    path = folder / "traced.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "traced",
                "mesh": "istio",
                "ingress": {"url": "http://127.0.0.1:9"},
                "prometheus": {"url": "http://127.0.0.1:9"},
                "traces": {"listen": f"127.0.0.1:{port}"},
                "services": {"gateway": {"ingress": True}},
            }
        )
    )
    return path


def otlp_span(trace_id: str) -> dict[str, object]:
    now = time.time_ns()
    span = {
        "traceId": trace_id,
        "spanId": "00f067aa0ba902b7",
        "name": "gateway handle",
        "kind": 2,
        "startTimeUnixNano": str(now - 1_000_000),
        "endTimeUnixNano": str(now),
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "gateway"}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}


def test_receiver_takes_spans_and_stops_at_down(tmp_path: Path) -> None:
    """Spans POSTed to the listen address land in the deployment's trace file; down stops it."""
    port = fresh_port()
    runtime = ExternalRuntime(state_root=tmp_path / "state")
    deployment = runtime.up(target_file(tmp_path, port))
    try:
        assert [p.role for p in deployment.processes] == ["trace-sink"]
        assert deployment.trace_file is not None
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        answer = requests.post(
            f"http://127.0.0.1:{port}/v1/traces", json=otlp_span(trace_id), timeout=5
        )
        assert answer.status_code == 200
        lines = Path(deployment.trace_file).read_text().splitlines()
        assert [json.loads(line)["trace_id"] for line in lines] == [trace_id]
        saved = state.load(runtime.state_file(deployment.name))
        assert saved.processes == deployment.processes
    finally:
        runtime.down(deployment)
    assert not any(is_running(p) for p in deployment.processes)
    assert not runtime.state_file(deployment.name).exists()


def test_taken_address_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """A listen address in use: up fails in one line, with no state file or process left."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        runtime = ExternalRuntime(state_root=tmp_path / "state", ready_timeout=10)
        with pytest.raises(DeployError) as caught:
            runtime.up(target_file(tmp_path, port))
    assert str(caught.value) == (
        f"{tmp_path / 'traced.yaml'}: traces.listen: the OTLP receiver cannot listen on"
        f" 127.0.0.1:{port}: Address already in use"
    )
    assert not runtime.state_file("external-traced").exists()


def test_target_check_names_a_taken_address() -> None:
    """`target check`'s traces line fails on an address in use, passes on a free one."""
    from harness.target.check import check_traces
    from mesh_runtime.target import TracesSpec

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        check = check_traces(TracesSpec(listen=f"127.0.0.1:{port}"))
    assert (check.ok, check.detail) == (
        False,
        f"cannot listen on 127.0.0.1:{port}: Address already in use",
    )
    assert check_traces(TracesSpec(listen=f"127.0.0.1:{fresh_port()}")).ok
