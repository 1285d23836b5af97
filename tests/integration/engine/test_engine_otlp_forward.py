"""`run --otlp-forward`: a real run's spans reach a real Jaeger, found there by the run id."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.cli.main import main
from tests.conftest import poll
from tests.fixtures.jaeger import LocalJaeger

pytestmark = pytest.mark.integration

SHORT: dict[str, Any] = {
    "name": "forward-short",
    "title": "spans forwarded to the user's backend (short)",
    "load": {"rps": 20, "warmup": "1s", "duration": "5s", "connections": 4},
}


def test_a_runs_spans_are_found_in_jaeger_by_the_run_id(
    tmp_path: Path,
    state_dir: Path,
    write_experiment: Callable[[dict[str, Any]], Path],
    jaeger: LocalJaeger,
) -> None:
    """Every span the run collected was sent on (none lost); Jaeger's query API finds the
    run's traces by the meshproof.run.id resource attribute, and they are the harness's."""
    out = tmp_path / "reports"
    args = ["run", str(write_experiment(SHORT)), "--out", str(out), "--quiet"]
    code = main([*args, "--state-dir", str(state_dir), "--otlp-forward", jaeger.otlp_url])
    assert code == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    record = json.loads((run / "run.json").read_text())
    forward = record["forward"]
    spans = pd.read_parquet(run / "spans.parquet")
    assert forward["url"] == jaeger.otlp_url
    assert forward["attributes"] == {"meshproof.run.id": record["id"]}
    assert forward["sent"] >= len(spans) > 0
    lost = ("dropped", "failed", "rejected", "unsent")
    assert {k: forward[k] for k in lost} == dict.fromkeys(lost, 0)
    assert "Spans forwarded to" in (run / "report.md").read_text()

    tag = {"meshproof.run.id": record["id"]}
    ingress = spans.loc[spans["kind"] == "SERVER", "service"].iloc[0]
    found = poll(lambda: jaeger.traces(ingress, tag), 30, 0.5, "the run's traces in Jaeger")
    requested = set(pd.read_parquet(run / "requests.parquet")["trace_id"])
    in_jaeger = {t["traceID"].rjust(32, "0") for t in found}
    assert in_jaeger and in_jaeger <= set(spans["trace_id"])
    assert len(in_jaeger & requested) >= 0.9 * len(in_jaeger)
    some = found[0]
    process_tags = {
        t["key"]: t["value"] for p in some["processes"].values() for t in p.get("tags", [])
    }
    assert process_tags["meshproof.run.id"] == record["id"]
    assert set(spans["service"]) <= set(jaeger.services())
    assert jaeger.traces(ingress, {"meshproof.run.id": "some-other-run"}) == []
    print(
        f"forwarded {forward['sent']} spans in {forward['exports']} exports"
        f" ({len(spans)} in spans.parquet); Jaeger found {len(in_jaeger)} traces of the run"
        f" ({len(in_jaeger & requested)} of them the harness's requests)"
    )


def test_an_endpoint_that_is_gone_costs_the_run_nothing_and_is_reported(
    tmp_path: Path, state_dir: Path, write_experiment: Callable[[dict[str, Any]], Path]
) -> None:
    """Forwarding to a port nothing listens on: the run completes as usual with every span
    collected, and run.json and report.md count the spans that could not be sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/traces"
    out = tmp_path / "reports"
    args = ["run", str(write_experiment(SHORT)), "--out", str(out), "--quiet"]
    assert main([*args, "--state-dir", str(state_dir), "--otlp-forward", gone]) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    record = json.loads((run / "run.json").read_text())
    forward = record["forward"]
    spans = pd.read_parquet(run / "spans.parquet")
    assert record["summary"]["trace_completeness"] >= 0.95
    assert forward["sent"] == 0 and forward["failed_exports"] >= 1
    assert forward["failed"] + forward["dropped"] + forward["unsent"] >= len(spans) > 0
    assert "ConnectionRefused" in forward["last_error"] or "Cannot connect" in forward["last_error"]
    assert (
        f"0 sent, {forward['dropped']} dropped (queue full), 0 refused for good"
        in (run / "report.md").read_text()
    )
