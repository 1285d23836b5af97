"""The gRPC experiments of the library, run for real and short on shop-grpc (grpcio
services, HTTP/2 through the sidecars, gRPC load routes in Locust)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.engine.enginekit import HarnessProcess
from tests.integration.library.librarykit import assert_run_files, assert_verdicts_hold, run_library

pytestmark = pytest.mark.integration

Harness = Callable[[list[str]], HarnessProcess]
DURATION = "10s"


def test_grpc_retries(harness: Harness, tmp_path: Path, state_dir: Path) -> None:
    """A catalog replica answering UNAVAILABLE to 30 %: retries on `unavailable` mask it
    (no failed record, gRPC ones included), and the mesh counted the retries."""
    result = run_library(harness, "grpc-retries", DURATION, tmp_path / "reports", state_dir)
    assert_run_files(result)
    assert_verdicts_hold(result)
    requests = result.table("requests")
    grpc = requests[requests["method"] == "GRPC"]
    assert len(grpc) > 0 and set(grpc["status"]) == {200}, grpc["error"].value_counts()
    assert (grpc["trace_id"].str.len() == 32).all()
    during = result.phase("during:catalog-1-unavailable")["values"]
    assert during["error_rate"] == 0.0 and during["retries_per_krequests"] > 10
    spans = result.table("spans")
    mesh = spans[spans["name"].isin(["inbound catalog", "outbound catalog"])].copy()
    mesh["code"] = mesh["attributes"].map(lambda a: _attributes(a).get("rpc.grpc.status_code"))
    assert set(mesh["kind"]) == {"SERVER", "CLIENT"} and mesh["code"].notna().all()
    for kind in ("SERVER", "CLIENT"):  # the sidecars saw the UNAVAILABLE tries, as errors
        unavailable = mesh[(mesh["kind"] == kind) & (mesh["code"] == 14)]
        assert len(unavailable) > 0 and set(unavailable["status_code"]) == {"ERROR"}
    assert set(mesh["code"]) == {0, 14}


def test_grpc_deadline(harness: Harness, tmp_path: Path, state_dir: Path) -> None:
    """A 5 s slow catalog behind a 1.5 s deadline: the calls end DEADLINE_EXCEEDED within
    about the deadline, and the app itself stopped at it (its spans end by then, as
    DEADLINE_EXCEEDED or CANCELLED), so the deadline went down to it."""
    result = run_library(harness, "grpc-deadline", DURATION, tmp_path / "reports", state_dir)
    assert_run_files(result)
    assert_verdicts_hold(result)
    requests = result.table("requests")
    failed = requests[requests["status"] != 200]
    assert len(failed) > 0 and set(failed["error"]) == {"grpc DEADLINE_EXCEEDED: Deadline Exceeded"}
    assert failed["latency_ms"].max() < 3500
    spans = result.table("spans")
    app = spans[spans["name"] == "catalog handle"]
    codes = app["attributes"].map(lambda a: _attributes(a)["rpc.grpc.status_code"])
    stopped = app[codes.isin([1, 4])]
    assert len(stopped) > 0 and ((stopped["end_ns"] - stopped["start_ns"]) / 1e6).max() < 3500


def _attributes(value: str | dict[str, object]) -> dict[str, object]:
    return json.loads(value) if isinstance(value, str) else value
