"""The run's CPU split by sidecars, apps, harness and the rest of the mesh."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.analysis.cpu_split import cpu_split, describe
from harness.analysis.host import deployment_cores
from harness.store.model import PhaseRecord

WHOLE = PhaseRecord(name="whole", start_s=10.0, end_s=20.0)


def _rows() -> pd.DataFrame:
    rows = []
    for t in (9.0, 11.0, 12.0):
        for role, name, cores in (
            ("sidecar", "a-sidecar", 0.2),
            ("sidecar", "b-sidecar", 0.4 if t > 11 else 0.2),
            ("service", "a", 0.1),
            ("harness", "load-7", 0.3),
            ("prometheus", "prometheus", 0.05),
        ):
            rows.append({"t_s": t, "role": role, "name": name, "cpu_cores": cores if t > 10 else 5})
    return pd.DataFrame(rows)


def test_each_group_is_the_sum_of_its_processes_mean_cores_in_the_phase() -> None:
    """Rows before the phase are left out; a process's cores are its mean over the phase."""
    split = cpu_split(_rows(), WHOLE, rps=500.0)
    assert split is not None
    assert split.cores == pytest.approx(
        {"sidecars": 0.5, "apps": 0.1, "harness": 0.3, "mesh_other": 0.05}
    )
    assert split.ms_per_request == pytest.approx(
        {"sidecars": 1.0, "apps": 0.2, "harness": 0.6, "mesh_other": 0.1}
    )
    assert describe(split).startswith("CPU cores at 500 rps: sidecars 0.50 (1.00 ms/req)")


def test_no_samples_or_no_rate() -> None:
    """No rows in the phase: no split; no achieved rate: cores without a per-request cost."""
    assert cpu_split(_rows(), PhaseRecord(name="x", start_s=50.0, end_s=60.0), 1.0) is None
    split = cpu_split(_rows()[lambda r: r["role"] != "harness"], WHOLE, rps=None)
    assert split is not None and split.ms_per_request is None
    assert list(split.cores) == ["sidecars", "apps", "mesh_other"]


def test_the_harness_processes_are_not_the_deployments_cpu() -> None:
    """The host's foreign CPU subtracts the deployment's processes, not the harness's."""
    cores = deployment_cores(_rows())
    assert cores.loc[11] == pytest.approx(0.2 + 0.4 + 0.1 + 0.05)
