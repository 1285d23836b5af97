"""Comparing runs read in a mesh's dialect: its counters, and no data (never 0) for a
signal the mesh cannot count."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.compare.samples import run_samples
from harness.engine.observers import dialect_record
from harness.observe.dialects import LINKERD
from harness.store import load_run
from harness.store.reader import StoredRun
from tests.fixtures.make_run import make_run


def test_a_linkerd_runs_retries_come_from_linkerd_and_its_ejections_are_no_data(
    tmp_path: Path,
) -> None:
    """Retries: the increase of Linkerd's route retry counter over the measured phase;
    ejections: no count at all (Linkerd has none), not 0."""
    run_dir = make_run(tmp_path)
    record = load_run(run_dir)
    bound = LINKERD.bind()
    retries = bound.query("retries") or ""
    labels = json.dumps({"mp_destination": "catalog", "mp_source": "frontend"})
    end = max(p.end_s for p in record.phases)
    rows = [{"t_s": float(t), "metric": retries, "labels": labels, "value": 2.0 * t}
            for t in range(int(end) + 1)]  # fmt: skip
    pd.DataFrame(rows).to_parquet(run_dir / "metrics.parquet")
    updated = record.model_copy(update={"dialect": dialect_record(bound)})
    (run_dir / "run.json").write_text(updated.model_dump_json(indent=2), encoding="utf-8")
    samples = run_samples(StoredRun(run_dir))
    assert samples.retries.count is not None and samples.retries.count > 0
    assert samples.ejections.count is None
