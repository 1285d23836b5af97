"""Spans and access log of a real request; config from a real control plane, and without it."""

from __future__ import annotations

import http.client
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from sidecar_mesh import endpoint, mesh_config, request
from sidecar_procs import PYTHON, Processes, http_get, ready_200, wait_until

from mesh_runtime.runtimes.ports import fresh_port

pytestmark = pytest.mark.integration

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


def test_spans_chain_across_the_hop_and_access_log_is_written(
    procs: Processes, tmp_path: Path
) -> None:
    """The client's CLIENT span is the caller's child and the parent of the server's
    SERVER span; each sidecar counts its span exported in /stats; both write a JSON
    access log line."""
    sink_port, spans_file = fresh_port(), tmp_path / "spans.jsonl"
    procs.spawn(
        "tracesink",
        [
            PYTHON,
            "-m",
            "mesh_runtime.tracesink",
            "--port",
            str(sink_port),
            "--out",
            str(spans_file),
        ],
    )
    wait_until(ready_200(sink_port, "/ready"), 15, "trace sink")
    otlp = ["--otlp-endpoint", f"http://127.0.0.1:{sink_port}/v1/traces"]
    inbound, outbound, admin = fresh_port(), fresh_port(), fresh_port()
    config = mesh_config({"catalog": {"endpoints": [endpoint("catalog-0", inbound)]}})
    app = procs.upstream("catalog-0")
    logs = {name: tmp_path / f"{name}.access.jsonl" for name in ("client", "server")}
    server = procs.sidecar(
        "catalog",
        "catalog-0",
        app,
        config,
        ports=(inbound, outbound, admin),
        extra=[*otlp, "--access-log", str(logs["server"])],
        tracing=True,
    )
    client = procs.sidecar(
        "frontend",
        "frontend-0",
        fresh_port(),
        config,
        extra=[*otlp, "--access-log", str(logs["client"])],
        tracing=True,
    )
    status, headers, _ = request(
        client.outbound,
        "GET",
        "/echo",
        "catalog",
        headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
    )
    assert status == 200
    for car in (client, server):  # sent by the export timer, before any shutdown flush
        wait_until(lambda c=car: c.stats()["tracing"]["exported"] == 1, 5, "span exported")
    for car in (client, server):
        car.proc.popen.send_signal(signal.SIGTERM)
        assert car.proc.popen.wait(10) == 0
    wait_until(lambda: len(_spans(spans_file)) >= 2, 10, "spans exported")
    spans = {s["kind"]: s for s in _spans(spans_file) if s["trace_id"] == TRACE_ID}
    assert spans["CLIENT"]["parent_span_id"] == CALLER_SPAN
    assert spans["CLIENT"]["service"] == "frontend"
    assert spans["SERVER"]["parent_span_id"] == spans["CLIENT"]["span_id"]
    assert spans["SERVER"]["service"] == "catalog"
    assert headers["x-seen-traceparent"].split("-")[2] == spans["SERVER"]["span_id"]
    for name, path in logs.items():
        line = json.loads(path.read_text().splitlines()[0])
        assert line["response_code"] == 200, name
        assert line["trace_id"] == TRACE_ID, name
        assert line["direction"] == ("outbound" if name == "client" else "inbound")


def _spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _control_plane(procs: Processes, tmp_path: Path, port: int, config: dict[str, Any]) -> str:
    token = tmp_path / "token"
    token.write_text("secret-token\n")
    config_file = tmp_path / "control.json"
    config_file.write_text(json.dumps(config))
    procs.spawn(
        f"control-{port}",
        [
            PYTHON,
            "-m",
            "mesh_runtime.control",
            "--config",
            str(config_file),
            "--port",
            str(port),
            "--token-file",
            str(token),
            "--state-file",
            str(tmp_path / "control-state.json"),
        ],
    )
    wait_until(ready_200(port, "/ready"), 20, "control plane")
    return "secret-token"


def _put_policy(port: int, token: str, service: str, policy: dict[str, Any]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            "PUT",
            f"/v1/services/{service}/policy",
            body=json.dumps(policy),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        assert response.status == 200, response.read()
        response.read()
    finally:
        conn.close()


def test_config_from_control_plane_survives_its_outage(procs: Processes, tmp_path: Path) -> None:
    """The sidecar gets its config by long poll, applies a policy change, keeps serving
    through a control-plane outage, and takes the next version once it is back."""
    app = procs.upstream("catalog-0")
    inbound = fresh_port()
    config = mesh_config({"catalog": {"endpoints": [endpoint("catalog-0", inbound)]}})
    cp_port = fresh_port()
    token = _control_plane(procs, tmp_path, cp_port, config)
    url = f"http://127.0.0.1:{cp_port}"
    car = procs.sidecar_cp(
        "catalog", "catalog-0", app, url, ports=(inbound, fresh_port(), fresh_port())
    )
    assert request(car.outbound, "GET", "/", "catalog")[0] == 200

    _put_policy(
        cp_port,
        token,
        "catalog",
        {"http": [{"fault": {"abort": {"httpStatus": 418, "percentage": 100}}}]},
    )
    wait_until(lambda: request(car.outbound, "GET", "/", "catalog")[0] == 418, 10, "fault on")

    control = next(p for p in procs.procs if p.name == f"control-{cp_port}")
    control.stop()
    for _ in range(20):
        assert request(car.outbound, "GET", "/", "catalog")[0] == 418
    assert http_get(car.admin, "/ready")[0] == 200

    _control_plane(procs, tmp_path, cp_port, config)
    _put_policy(cp_port, token, "catalog", {"http": [{"name": "default"}]})
    wait_until(lambda: request(car.outbound, "GET", "/", "catalog")[0] == 200, 15, "fault off")
