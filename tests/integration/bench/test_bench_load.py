"""The load bench's A/B: a baseline revision's Locust processes run beside this tree's."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench.load import throughput_step
from harness.bench.pairs import revision_tree
from harness.bench.procs import fortio_server

pytestmark = pytest.mark.integration


def test_a_baseline_driver_imports_its_own_revision(tmp_path: Path) -> None:
    """A step with `source` runs the Locust master and worker from the revision's tree
    (its `harness`, not this checkout's, which `python -m` would put first), and they keep
    the rate and record every request."""
    tree = revision_tree("HEAD", tmp_path, ("harness", "mesh_runtime"))
    marker = "BASELINE-MARKER"
    init = tree / "harness" / "load" / "__init__.py"
    init.write_text(init.read_text() + f"\nimport sys\nprint({marker!r}, file=sys.stderr)\n")
    with fortio_server() as url:
        step = throughput_step(url, 200, 1.5, tmp_path / "step", source=tree)
    assert step["achieved_rps"] >= 190 and step["errors"] == 0 and step["unsent"] == 0
    for log in ("locust-master.log", "locust-worker-0.log"):
        assert marker in (tmp_path / "step" / log).read_text()
