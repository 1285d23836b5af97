"""`target check`'s prometheus line on a mesh that had no traffic yet (a real, empty
Prometheus: FAIL, with the hint that the mesh may not be serving), and its traces line,
which says that binding the receiver's address does not show the mesh exports there."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.target.check import check_prometheus, check_traces
from mesh_runtime.runtimes.ports import fresh_port
from mesh_runtime.runtimes.prometheus import scrape_config
from mesh_runtime.target import PrometheusAccess, TracesSpec
from tests.fixtures.prometheus import start_prometheus

pytestmark = pytest.mark.integration


def test_no_series_at_all_for_the_named_services_asks_whether_the_mesh_serves(
    tmp_path: Path,
) -> None:
    """Right after `meshproof up` Prometheus has no series of the request counter: the
    line FAILs naming the services and found none, and asks whether the mesh is serving
    (no traffic yet), as the line of a target naming no services does."""
    for server in start_prometheus(tmp_path, scrape_config([])):
        access = PrometheusAccess(url=server.base_url)
        named = check_prometheus(access, "istio", ["frontend", "catalog"], 5.0)
        unnamed = check_prometheus(access, "istio", [], 5.0)
    assert not named.ok and not unnamed.ok
    assert "has no series for frontend, catalog (found: none; is the mesh serving?" in (
        named.detail
    )
    assert "no traffic yet" in named.detail and "no traffic yet" in unnamed.detail
    assert "is the mesh serving?" in unnamed.detail


def test_the_traces_line_says_a_run_shows_whether_spans_arrive() -> None:
    """A free address passes, and the line says only the receiver can listen there: whether
    the mesh exports spans to it is seen in a run."""
    listen = f"127.0.0.1:{fresh_port()}"
    line = check_traces(TracesSpec(listen=listen))
    assert line.ok
    assert line.detail == (
        f"the OTLP receiver can listen on {listen}; whether the mesh exports there is seen in a run"
    )
