"""The fault ledger: durable begin/done records, pending faults, rollback order and failures."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.errors import FaultError
from harness.faults.ledger import FaultLedger, parse_lines, pending_entries, registrations
from harness.faults.network import RemoveToxic
from harness.faults.steps import RollbackEntry, RollbackStep


def _ledger(tmp_path: Path) -> FaultLedger:
    return FaultLedger(tmp_path / "run" / "faults.ledger.jsonl", clock=lambda: 1000.0)


def _entry(name: str, *steps: RollbackStep) -> RollbackEntry:
    return RollbackEntry(fault=name, kind="toxic", target="a->b", steps=list(steps))


def test_begin_is_on_disk_before_apply(tmp_path: Path) -> None:
    """begin() leaves a whole JSON line with the entry in the file when it returns."""
    ledger = _ledger(tmp_path)
    step = RemoveToxic(state_file=Path("s.json"), toxiproxy_url="http://t", proxy="p", toxic="x")
    ledger.begin("slow", _entry("slow", step))
    lines = ledger.path.read_text().splitlines()
    assert json.loads(lines[0]) == {
        "op": "begin",
        "name": "slow",
        "at": 1000.0,
        "entry": {
            "fault": "slow",
            "kind": "toxic",
            "target": "a->b",
            "steps": [
                {
                    "action": "remove_toxic",
                    "state_file": "s.json",
                    "toxiproxy_url": "http://t",
                    "proxy": "p",
                    "toxic": "x",
                }
            ],
        },
    }


def test_pending_lists_begun_not_done_in_order(tmp_path: Path) -> None:
    """pending() holds faults begun and not yet done, oldest first."""
    ledger = _ledger(tmp_path)
    for name in ("a", "b", "c"):
        ledger.begin(name, _entry(name))
    ledger.done("b")
    assert [e.name for e in ledger.pending()] == ["a", "c"]


def test_pending_of_missing_file_is_empty(tmp_path: Path) -> None:
    """A ledger file that was never written has nothing pending."""
    assert _ledger(tmp_path).pending() == []


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    """A half-written last line (the harness died mid-write) does not hide earlier entries."""
    ledger = _ledger(tmp_path)
    ledger.begin("a", _entry("a"))
    with ledger.path.open("a") as handle:
        handle.write('{"op": "begin", "name": "b", "ent')
    assert [e.name for e in ledger.pending()] == ["a"]


def test_begin_again_after_done_is_pending_again() -> None:
    """A fault name begun again after it was done is pending once more."""
    records = parse_lines(
        "\n".join(
            json.dumps(r)
            for r in (
                {"op": "begin", "name": "a", "entry": {"n": 1}},
                {"op": "done", "name": "a"},
                {"op": "begin", "name": "a", "entry": {"n": 2}},
            )
        )
    )
    assert [e.entry for e in pending_entries(records)] == [{"n": 2}]


def test_rollback_all_newest_first_and_marks_done(tmp_path: Path) -> None:
    """rollback_all undoes pending entries newest first and leaves nothing pending."""
    ledger = _ledger(tmp_path)
    for name in ("first", "second", "third"):
        ledger.begin(name, _entry(name))
    ledger.done("second")
    seen: list[str] = []
    undone = ledger.rollback_all(lambda entry: seen.append(entry["fault"]))
    assert seen == ["third", "first"]
    assert undone == ["third", "first"]
    assert ledger.pending() == []


def test_rollback_all_twice_undoes_each_once(tmp_path: Path) -> None:
    """A second rollback_all finds nothing left: each entry is undone at most once."""
    ledger = _ledger(tmp_path)
    ledger.begin("a", _entry("a"))
    seen: list[str] = []
    ledger.rollback_all(lambda entry: seen.append(entry["fault"]))
    ledger.rollback_all(lambda entry: seen.append(entry["fault"]))
    assert seen == ["a"]


def test_rollback_all_continues_past_failures_and_reports_all(tmp_path: Path) -> None:
    """Failing rollbacks do not stop the others; all failures come in one FaultError."""
    ledger = _ledger(tmp_path)
    for name in ("a", "b", "c"):
        ledger.begin(name, _entry(name))
    seen: list[str] = []

    def executor(entry: Mapping[str, Any]) -> None:
        seen.append(entry["fault"])
        if entry["fault"] != "b":
            raise FaultError(f"{entry['fault']} broke")

    with pytest.raises(FaultError) as caught:
        ledger.rollback_all(executor)
    assert seen == ["c", "b", "a"]
    assert "a broke" in str(caught.value) and "c broke" in str(caught.value)
    assert "2 fault(s)" in str(caught.value)
    assert [e.name for e in ledger.pending()] == ["a", "c"]


def test_rollback_all_reports_each_outcome(tmp_path: Path) -> None:
    """The reporter hears of every rollback, with the error of a failed one."""
    ledger = _ledger(tmp_path)
    ledger.begin("ok", _entry("ok"))
    ledger.begin("bad", _entry("bad"))
    outcomes: list[tuple[str, bool]] = []

    def executor(entry: Mapping[str, Any]) -> None:
        if entry["fault"] == "bad":
            raise RuntimeError("boom")

    with pytest.raises(FaultError, match="RuntimeError: boom"):
        ledger.rollback_all(executor, lambda name, exc: outcomes.append((name, exc is None)))
    assert outcomes == [("bad", False), ("ok", True)]


def test_register_and_unregister(tmp_path: Path) -> None:
    """A registered ledger is found under <root>/ledgers/ with its owner; unregister removes it."""
    ledger = _ledger(tmp_path)
    root = tmp_path / "state"
    ledger.register(root)
    found = registrations(root)
    assert [r.ledger for r in found] == [ledger.path.resolve()]
    assert found[0].owner_alive()
    ledger.unregister()
    assert registrations(root) == []


def test_damaged_registration_is_one_clear_error(tmp_path: Path) -> None:
    """A registration file that is not JSON is a FaultError naming the file."""
    folder = tmp_path / "ledgers"
    folder.mkdir()
    (folder / "x.json").write_text("{not json")
    with pytest.raises(FaultError, match=r"x\.json: not a fault ledger registration"):
        registrations(tmp_path)
