"""The Run page's trace view under Streamlit's AppTest: the ready lists and their waterfalls."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.apptest import dashboard, open_page


@pytest.fixture
def app(reports: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return dashboard(reports, monkeypatch)


def _drawn(app: AppTest) -> str:
    tables = [e.proto.body for e in app.get("html") if 'class="waterfall"' in e.proto.body]
    assert len(tables) == 1
    return str(tables[0])


def _span_ids(table: str) -> set[str]:
    return set(re.findall(r'data-row="span" data-span-id="([0-9a-f]+)"', table))


def test_a_failed_request_from_its_list_shows_its_spans_and_the_missing_ones(
    app: AppTest, run_dirs: dict[str, Path]
) -> None:
    """The lists name the slowest per phase, failed and incomplete traces; a failed
    request's waterfall holds exactly its spans and marks catalog's and cart's missing."""
    run = run_dirs["new"]
    open_page(app, "run", run=run.name)
    source = next(s for s in app.selectbox if s.label == "from")
    assert {"failed", "incomplete", "slowest (before)"} <= set(source.options)
    source.set_value("failed").run()
    assert not app.exception
    pick = next(s for s in app.selectbox if s.label == "trace")
    trace_id = str(pick.value).split()[0]
    requests = pd.read_parquet(run / "requests.parquet")
    assert int(requests.set_index("trace_id").loc[trace_id, "status"]) != 200
    table = _drawn(app)
    spans = pd.read_parquet(run / "spans.parquet")
    assert _span_ids(table) == set(spans.loc[spans["trace_id"] == trace_id, "span_id"])
    assert "missing: catalog handle" in table and "missing: cart handle" in table
    assert table.count('data-row="harness"') == 2


def test_an_unknown_or_bad_trace_id_is_said_so(app: AppTest, run_dirs: dict[str, Path]) -> None:
    """?trace= with no such trace: a warning naming it; text that is no id: a warning too."""
    open_page(app, "run", run=run_dirs["new"].name, trace="0" * 31 + "9")
    assert any("No span and no request of trace" in w.value for w in app.warning)
    field = next(t for t in app.text_input if t.label.startswith("trace id"))
    field.set_value("not-an-id").run()
    assert any("is not a trace id" in w.value for w in app.warning)


def test_the_run_page_says_where_spans_were_forwarded(
    tmp_path: Path, run_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that forwarded its spans: the trace section names the endpoint and the counts."""
    import shutil

    from harness.store import load_run
    from harness.store.model import ForwardRecord

    reports = tmp_path / "reports"
    run = Path(shutil.copytree(run_dirs["new"], reports / run_dirs["new"].name))
    record = load_run(run)
    forward = ForwardRecord(url="http://127.0.0.1:4318/v1/traces", sent=10, failed=2, exports=3,
                            failed_exports=1)  # fmt: skip
    (run / "run.json").write_text(record.model_copy(update={"forward": forward}).model_dump_json())
    app = open_page(dashboard(reports, monkeypatch), "run", run=run.name)
    captions = " ".join(c.value for c in app.caption)
    assert "Spans forwarded to http://127.0.0.1:4318/v1/traces: 10 sent" in captions
    assert "2 refused for good; 1 of 3 exports failed" in captions


def test_an_orphan_trace_is_said_to_be_one(app: AppTest, run_dirs: dict[str, Path]) -> None:
    """?trace= of a trace no request started: its spans, no harness row, nothing marked
    missing, and the caption says its times start at its first span, not at a send."""
    run = run_dirs["new"]
    spans = pd.read_parquet(run / "spans.parquet")
    requests = pd.read_parquet(run / "requests.parquet")
    orphans = spans[~spans["trace_id"].isin(requests["trace_id"])]
    trace_id = str(orphans["trace_id"].iloc[0])
    open_page(app, "run", run=run.name, trace=trace_id)
    table = _drawn(app)
    assert _span_ids(table) == set(orphans.loc[orphans["trace_id"] == trace_id, "span_id"])
    assert 'data-row="harness"' not in table and 'data-row="missing"' not in table
    caption = next(c.value for c in app.caption if c.value.startswith(f"Trace `{trace_id}`"))
    assert "no request of the harness" in caption and "from its first span" in caption
