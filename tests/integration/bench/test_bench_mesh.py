"""A short real run of the mesh benchmark: every set-up carries traffic, spans all arrive."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from harness.bench.mesh import main, run_mesh_bench
from harness.bench.pairs import revision_tree, sidecar_pair, trace_sink
from harness.bench.procs import fortio_server

pytestmark = pytest.mark.integration


def test_every_set_up_is_measured_and_every_span_arrives() -> None:
    """direct, HAProxy pair, sidecar pair and mTLS sidecar pair each answer fortio's
    requests without errors; CPU and memory are read for each proxy process; the trace
    sink holds at least a CLIENT and a SERVER span for each request through the sidecars;
    each proxy's wait for a CPU is read beside its CPU time."""
    result = run_mesh_bench(rps=200, connections=4, seconds=1.5, rounds=1)
    assert set(result["percentiles_ms"]) == {"direct", "haproxy", "mesh", "mesh-mtls"}
    assert all(errors == 0 for errors in result["errors"].values())
    assert all(qps > 150 for qps in result["qps"].values())
    assert set(result["cpu_per_krps"]["mesh-mtls"]) == {
        "mtls-sidecar-server",
        "mtls-sidecar-client",
    }
    assert all(cores > 0 for cores in result["cpu_per_krps"]["mesh"].values())
    assert 10 < result["rss_mb"]["mesh"] < 200
    waits = result["run_queue_us_per_request"]
    assert set(waits) == set(result["cpu_per_krps"])
    assert set(waits["mesh"]) == {"sidecar-server", "sidecar-client"}
    assert all(us >= 0 for roles in waits.values() for us in roles.values())
    spans = result["spans"]
    assert spans["expected"] > 0 and spans["at_sink"] >= spans["expected"]


def test_a_baseline_revision_runs_beside_the_current_sidecar() -> None:
    """`baseline` unpacks that revision's sidecar and measures its pair in the same run:
    its sidecars answer, their CPU is read under their own role names."""
    result = run_mesh_bench(
        rps=200, connections=4, seconds=1.5, rounds=1, mtls=False, baseline="HEAD"
    )
    assert set(result["percentiles_ms"]) == {"direct", "haproxy", "mesh", "mesh-base"}
    assert all(errors == 0 for errors in result["errors"].values())
    assert set(result["cpu_per_krps"]["mesh-base"]) == {
        "base-sidecar-server",
        "base-sidecar-client",
    }
    assert set(result["added_ratio_vs_envoy"]) == {"mesh", "mesh-base"}


def test_a_baseline_sidecar_imports_its_own_revision(tmp_path: Path) -> None:
    """The baseline pair's sidecars run in the revision's tree, so that its mesh_runtime
    (not the checkout's, which `python -m` would put first on sys.path) is imported."""
    tree = revision_tree("HEAD", tmp_path)
    marker = "BASELINE-MARKER"
    init = tree / "mesh_runtime" / "__init__.py"
    init.write_text(init.read_text() + f"\nimport sys\nprint({marker!r}, file=sys.stderr)\n")
    with fortio_server() as base, trace_sink(tmp_path) as otlp:
        port = int(base.rsplit(":", 1)[1])
        with sidecar_pair(port, tmp_path, otlp, tree, "mesh-base") as target:
            assert set(target.pids) == {"base-sidecar-server", "base-sidecar-client"}
    for role in target.pids:
        assert marker in (tmp_path / f"{role}.log").read_text()


def test_an_unknown_baseline_revision_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A revision git does not know stops the bench before anything runs."""
    assert main(["--baseline", "no-such-revision", "--seconds", "1", "--rounds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mesh benchmark: error: cannot read revision 'no-such-revision'")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("elsewhere", "policy"), [(True, os.SCHED_IDLE), (False, os.SCHED_OTHER)])
def test_the_bench_collector_runs_on_the_cpu_time_left(
    tmp_path: Path, elsewhere: bool, policy: int
) -> None:
    """The mesh bench's trace sink stands for a collector on other machines: SCHED_IDLE,
    so it never holds a CPU a proxy waits for (`--collector shared`: as any process)."""
    with trace_sink(tmp_path, elsewhere=elsewhere) as url:
        port = str(urlsplit(url).port)
        (sink,) = [
            p for p in psutil.process_iter(["cmdline"])
            if "mesh_runtime.tracesink" in (p.info["cmdline"] or [])
            and port in (p.info["cmdline"] or [])
        ]  # fmt: skip
        assert os.sched_getscheduler(sink.pid) == policy
