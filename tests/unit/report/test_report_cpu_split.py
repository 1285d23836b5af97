"""report.md and the HTML report give the run's CPU split when run.json has one."""

from __future__ import annotations

from pathlib import Path

from harness.report import html
from harness.report.markdown import markdown_report
from harness.store import load_run
from harness.store.model import CpuSplit
from tests.fixtures.make_run import make_run


def test_cpu_split_is_in_both_reports(tmp_path: Path) -> None:
    """The groups' cores and CPU per request, once recorded; no section without it."""
    run_dir = make_run(tmp_path)
    record = load_run(run_dir)
    assert "## CPU (whole run)" not in markdown_report(record)
    split = CpuSplit(
        phase="whole",
        rps=500.0,
        cores={"sidecars": 1.0, "apps": 0.25, "harness": 0.1},
        ms_per_request={"sidecars": 2.0, "apps": 0.5, "harness": 0.2},
    )
    line = (
        "CPU cores at 500 rps: sidecars 1.00 (2.00 ms/req), apps 0.25 (0.50 ms/req),"
        " harness 0.10 (0.20 ms/req); total 1.35"
    )
    recorded = record.model_copy(update={"cpu": split})
    assert f"## CPU (whole run)\n\n{line}" in markdown_report(recorded)
    assert line in html._resources(recorded, run_dir)  # the HTML report's resources section


def test_an_external_meshs_cpu_reads_no_data(tmp_path: Path) -> None:
    """On an external target only the harness's processes are sampled: the mesh's groups
    (mesh_other holding the harness's own trace receiver) read no data, never 0.00."""
    run_dir = make_run(tmp_path)
    split = CpuSplit(
        phase="whole",
        rps=50.0,
        cores={"harness": 0.35, "mesh_other": 0.0},
        ms_per_request={"harness": 7.0, "mesh_other": 0.0},
    )
    recorded = load_run(run_dir).model_copy(update={"cpu": split, "runtime": "external"})
    line = (
        "CPU cores at 50 rps: harness 0.35 (7.00 ms/req), sidecars, apps, mesh_other no data"
        " (an external target's processes are not sampled)"
    )
    assert f"## CPU (whole run)\n\n{line}\n" in markdown_report(recorded)
    resources = html._resources(recorded, run_dir)  # the HTML report's resources section
    assert "mesh_other no data" in resources and "mesh_other 0.00" not in resources
