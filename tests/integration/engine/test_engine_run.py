"""`meshproof run` end to end on the local runtime: verdicts, run directory, teardown."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.cli.main import main
from harness.load.plan import SLOW_START_ENV
from mesh_runtime.runtimes.local import LocalRuntime
from mesh_runtime.runtimes.supervisor import is_running
from tests.integration.engine.enginekit import SHOP, processes_mentioning

pytestmark = pytest.mark.integration

COLUMNS = {
    "requests": {
        "intended_s", "sent_s", "latency_ms", "corrected_ms", "status", "bytes", "route",
        "method", "trace_id", "error", "phase",
    },
    "windows": {
        "second", "rps", "error_rate", "p50_ms", "p90_ms", "p99_ms", "p999_ms",
        "corrected_p99_ms", "phase", "sched_lag_p99_ms", "sched_lag_max_ms", "steal_share",
        "iowait_share", "load1", "foreign_cpu_cores", "max_send_lag_ms", "hdr_p50_ms",
        "hdr_p90_ms", "hdr_p99_ms", "hdr_p999_ms", "hdr_corrected_p99_ms",
    },
    "metrics": {"t_s", "metric", "labels", "value"},
    "resources": {"t_s", "role", "name", "pid", "cpu_s", "cpu_cores", "rss_mb"},
    "spans": {
        "trace_id", "span_id", "parent_span_id", "name", "kind", "service", "instance",
        "start_ns", "end_ns", "status_code", "attributes",
    },
    "events": {"t_s", "kind", "name", "detail"},
}  # fmt: skip

RETRY_EXPERIMENT: dict[str, Any] = {
    "name": "retry-short",
    "title": "retries mask a failing replica (short)",
    "load": {"rps": 60, "warmup": "2s", "duration": "12s", "connections": 8},
    "faults": [
        {
            "name": "catalog-1-503",
            "kind": "service_behaviour",
            "target": "catalog-1",
            "at": "3s",
            "duration": "6s",
            "params": {"error_rate": 0.3, "error_status": 503},
        }
    ],
    "slos": [
        "retries_per_krequests > 10 during:catalog-1-503",
        "error_rate < 0.05 during:catalog-1-503",
        "error_rate < 0.01 after",
        "rps > 100000",  # impossible, and no latency: never weighed against the host
    ],
}


def only_run_dir(out: Path) -> Path:
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_short_fault_run_judges_and_writes_the_run_directory(
    tmp_path: Path,
    state_dir: Path,
    write_experiment: Callable[[dict[str, Any]], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A short run with a 503 fault: verdicts from real data, every table and report written,
    an impossible SLO fails the run with exit 1, the deployment is gone afterwards, and
    --quiet still printed one line per SLO verdict."""
    experiment = write_experiment(RETRY_EXPERIMENT)
    out = tmp_path / "reports"
    code = main(
        ["run", str(experiment), "--out", str(out), "--quiet", "--state-dir", str(state_dir)]
    )
    run = only_run_dir(out)
    record = json.loads((run / "run.json").read_text())
    verdicts = {v["slo"]: v for v in record["verdicts"]}
    printed = capsys.readouterr().out.splitlines()
    for slo, verdict in verdicts.items():
        outcome = verdict.get("outcome", "pass" if verdict["passed"] else "fail")
        word = outcome.upper()  # PASS, FAIL or INCONCLUSIVE (a host too noisy to judge)
        assert sum(line.startswith(f"{word} {slo}: measured") for line in printed) == 1, printed

    assert code == 1
    assert record["status"] == "failed"
    assert verdicts["retries_per_krequests > 10 during:catalog-1-503"]["passed"]
    assert verdicts["error_rate < 0.05 during:catalog-1-503"]["passed"]
    assert verdicts["error_rate < 0.01 after"]["passed"]
    assert not verdicts["rps > 100000"]["passed"]
    assert record["faults"][0]["name"] == "catalog-1-503"
    assert record["faults"][0]["end_s"] > record["faults"][0]["start_s"] > 2.0
    assert record["summary"]["requests"] > 300
    assert record["environment"]["python"] and record["environment"]["hostname"]
    assert record["environment"]["tools"]["locust"]
    assert record["metrics_source"] in ("prometheus", "builtin-scraper")
    assert record["traces"]["requests"] > 0
    assert record["traces"]["complete"] <= record["traces"]["requests"]
    assert_cpu_split(record, pd.read_parquet(run / "resources.parquet"))

    for table, columns in COLUMNS.items():
        frame = pd.read_parquet(run / f"{table}.parquet")
        assert columns <= set(frame.columns), (table, set(frame.columns))
        assert len(frame) > 0, table
    requests = pd.read_parquet(run / "requests.parquet")
    assert {"before", "during:catalog-1-503", "after"} <= set(requests["phase"])
    assert_host_and_hdr(record, pd.read_parquet(run / "windows.parquet"), requests)
    assert len(list((run / "views").glob("*.parquet"))) >= 5  # the Run page's, kept
    assert processes_mentioning("harness.observe.probe", str(run)) == []

    suite = ET.parse(run / "junit.xml").getroot()
    cases = suite.findall(".//testcase")
    assert len(cases) == len(RETRY_EXPERIMENT["slos"])
    assert len(suite.findall(".//testcase/failure")) == 1
    report = (run / "report.md").read_text()
    assert "rps > 100000" in report
    assert "## CPU (whole run)" in report and "harness" in report

    assert not (state_dir / "deployments" / "shop.json").exists()
    assert not list((state_dir / "ledgers").glob("*.json"))


def assert_cpu_split(record: dict[str, Any], resources: pd.DataFrame) -> None:
    """The whole run's CPU by sidecars, apps, harness (orchestrator and Locust, sampled as
    role `harness`) and the rest, and per achieved request."""
    cpu = record["cpu"]
    assert list(cpu["cores"]) == ["sidecars", "apps", "harness", "mesh_other"], cpu
    assert all(cores > 0 for cores in cpu["cores"].values()), cpu
    assert cpu["rps"] == pytest.approx(record["summary"]["rps"])
    for group, cores in cpu["cores"].items():
        assert cpu["ms_per_request"][group] == pytest.approx(cores * 1000 / cpu["rps"])
    harness = set(resources.loc[resources["role"] == "harness", "name"])
    assert "orchestrator" in harness and any(n.startswith("load-") for n in harness), harness


def assert_host_and_hdr(
    record: dict[str, Any], windows: pd.DataFrame, requests: pd.DataFrame
) -> None:
    """The host's disturbance per second and per phase, and HDR beside exact percentiles."""
    measured = windows[windows["requests"] > 0]
    assert measured["sched_lag_p99_ms"].notna().all()
    assert (measured["load1"] > 0).all() and (measured["foreign_cpu_cores"] >= 0).all()
    for phase in record["phase_summaries"]:
        if phase["phase"].startswith("compare:"):
            continue
        host = phase["host"]
        assert host["sched_lag_max_ms"] >= host["sched_lag_p99_ms"] >= host["sched_lag_p50_ms"]
        assert host["load1_max"] > 0 and host["foreign_cpu_cores"] >= 0
        assert 0 <= host["steal_share"] <= 1 and 0 <= host["iowait_share"] <= 1
        # the probe stays cheap; CPU time comes in 10 ms ticks, so a few seconds of a probe
        # using ~0.5 % of a core can read 0: only the whole run must show some
        assert 0 <= host["probe_cpu_cores"] < 0.05, host
        if phase["phase"] == "whole":
            assert host["probe_cpu_cores"] > 0, host
    by_phase = {p["phase"]: p for p in record["phase_summaries"]}
    assert record["host"] == by_phase["whole"]["host"]
    assert record["hdr"] == {
        "significant_digits": 3,
        "relative_error": 0.001,
        "lowest_us": 1,
        "highest_us": 3_600_000_000,
    }
    whole = by_phase["whole"]["values"]
    assert whole["hdr_p50_ms"] == pytest.approx(whole["p50_ms"], rel=0.02)
    # per window, HDR's p99 is the exact value of its rank within the stated precision
    second = np.floor(requests["intended_s"]).astype("int64")
    for s, window in measured.set_index("second").iterrows():
        ordered = np.sort(np.round(requests.loc[second == s, "latency_ms"].to_numpy() * 1000))
        exact_ms = ordered[max(1, int(99 * len(ordered) / 100 + 0.5)) - 1] / 1000
        assert exact_ms - 0.0005 <= window["hdr_p99_ms"] <= exact_ms * 1.001 + 0.0005, s


def test_bad_experiment_is_one_line_and_exit_2(
    tmp_path: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that does not validate: exit 2, one line naming the field, nothing deployed."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\ntarget: {topology: topologies/shop.yaml}\nload: {rps: -1}\n")
    code = main(["run", str(bad), "--out", str(tmp_path / "r"), "--state-dir", str(state_dir)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "load.rps" in err
    assert not (tmp_path / "r").exists()


def test_a_run_refused_because_the_mesh_is_up_writes_no_run_folder(
    tmp_path: Path,
    state_dir: Path,
    write_experiment: Callable[[dict[str, Any]], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`run` while the topology is already up: exit 2, one line saying so, no run folder,
    and the deployment that was up is left running."""
    deployment = LocalRuntime(state_root=state_dir).up(SHOP)
    experiment = write_experiment(RETRY_EXPERIMENT)
    out = tmp_path / "reports"
    code = main(
        ["run", str(experiment), "--out", str(out), "--quiet", "--state-dir", str(state_dir)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines() == [err] and "shop is already up" in err
    assert not out.exists() or not any(out.iterdir())
    assert (state_dir / "deployments" / "shop.json").exists()
    assert all(is_running(process) for process in deployment.processes)


def test_duration_scales_a_library_experiment(tmp_path: Path, state_dir: Path) -> None:
    """--duration runs experiments/baseline.yaml in about the given time, every SLO judged."""
    out = tmp_path / "reports"
    experiment = Path(__file__).resolve().parents[3] / "experiments" / "baseline.yaml"
    code = main(
        ["run", str(experiment), "--duration", "8s", "--out", str(out), "--quiet",
         "--state-dir", str(state_dir)]
    )  # fmt: skip
    record = json.loads((only_run_dir(out) / "run.json").read_text())
    assert code in (0, 1, 3)  # 3: inconclusive, the host too noisy to judge a latency SLO
    assert record["status"] in ("passed", "failed", "inconclusive")
    whole = next(p for p in record["phases"] if p["name"] == "whole")
    assert whole["end_s"] == pytest.approx(8.0)
    assert len(record["verdicts"]) == 5
    assert all(v["value"] is not None for v in record["verdicts"])
    assert processes_mentioning("mesh_runtime", str(state_dir)) == []
    assert processes_mentioning("harness.load.locust_main", str(out)) == []


LATE_LOCUST_EXPERIMENT: dict[str, Any] = {
    "name": "late-locust",
    "title": "a fault early in a short run, Locust's workers coming up late",
    "load": {"rps": 40, "warmup": "1s", "duration": "7s", "connections": 4},
    "faults": [
        {
            "name": "catalog-0-503",
            "kind": "service_behaviour",
            "target": "catalog-0",
            "at": "1s",
            "duration": "3s",
            "params": {"error_rate": 0.5, "error_status": 503},
        }
    ],
    "slos": ["retries_per_krequests > 10 during:catalog-0-503"],
}


def test_a_late_load_driver_delays_t0_and_the_fault_keeps_its_duration(
    tmp_path: Path,
    state_dir: Path,
    write_experiment: Callable[[dict[str, Any]], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Locust worker comes up 12s late (an overloaded host). The warm-up starts when
    the load can: requests from the first moment of warm-up, Locust ready before t0, the
    fault on at about warm-up + at and lasting its 3s (not applied and reverted at once),
    the `before` phase ending where the fault begins, and no note of a late start."""
    monkeypatch.setenv(SLOW_START_ENV, "12")
    experiment = write_experiment(LATE_LOCUST_EXPERIMENT)
    out = tmp_path / "reports"
    code = main(
        ["run", str(experiment), "--out", str(out), "--quiet", "--state-dir", str(state_dir)]
    )
    run = only_run_dir(out)
    record = json.loads((run / "run.json").read_text())
    assert code in (0, 1, 3) and record.get("error") is None, record.get("error")
    fault = record["faults"][0]
    assert 2.0 <= fault["start_s"] < 3.0
    assert 3.0 <= fault["end_s"] - fault["start_s"] < 3.5
    events = pd.read_parquet(run / "events.parquet")
    ready = events[(events["kind"] == "load") & (events["name"] == "ready")]["t_s"]
    assert float(ready.iloc[0]) <= 0.5
    assert not any("into the warm-up" in str(d) for d in events["detail"])
    requests = pd.read_parquet(run / "requests.parquet")
    assert float(requests["intended_s"].min()) < 0.5
    phases = {p["name"]: p for p in record["phases"]}
    assert phases["before"]["end_s"] == pytest.approx(fault["start_s"])
