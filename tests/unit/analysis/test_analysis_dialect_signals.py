"""Mesh signals read through a metric dialect: per-label increases, and NoData (with the
mesh's reason) where the dialect cannot give a signal, never 0."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.analysis.phases import phase_intervals
from harness.analysis.signals import counter_increase_by
from harness.analysis.summary import RunFrames, summarize, unmeasured_metrics
from harness.analysis.windows import compute_windows
from harness.engine.observers import dialect_record
from harness.judge import exit_code, judge, run_status
from harness.observe.dialects import CONSUL, ISTIO, LINKERD, MESHPROOF, BoundDialect
from harness.spec.slo import SLO
from harness.store.model import PhaseRecord, Verdict
from tests.fixtures.make_run import steady_requests

PHASES = phase_intervals(2.0, 10.0, [])
WHOLE = PhaseRecord(name="whole", start_s=0.0, end_s=10.0)


def rows(metric: str, points: list[tuple[float, float]], **labels: str) -> list[dict]:
    text = json.dumps(labels, sort_keys=True)
    return [{"t_s": t, "metric": metric, "labels": text, "value": v} for t, v in points]


def test_increase_by_labels_handles_resets_and_late_series() -> None:
    """Per (source, destination): each series' increase (a reset counts from 0, a series
    first seen during the run from 0), summed; no series at all is {}, no metrics None."""
    edge = "label_replace(x)"
    table = pd.DataFrame(
        rows("up", [(0.0, 1.0), (9.0, 1.0)])
        + rows(
            edge,
            [(1.0, 5.0), (4.0, 9.0), (5.0, 2.0), (8.0, 6.0)],
            mp_source="a",
            mp_destination="b",
            pod="b-1",
        )
        + rows(edge, [(3.0, 4.0), (8.0, 7.0)], mp_source="a", mp_destination="b", pod="b-2")
        + rows(edge, [(2.0, 3.0)], mp_source="a", mp_destination="c")
    )
    by = ("mp_source", "mp_destination")
    found = counter_increase_by(table, edge, by, WHOLE)
    assert found == {("a", "b"): (5.0 + 4.0 + 2.0 + 4.0) + (4.0 + 3.0), ("a", "c"): 3.0}
    assert counter_increase_by(table, "absent", by, WHOLE) == {}
    assert counter_increase_by(None, edge, by, WHOLE) is None


def test_signals_a_mesh_cannot_give_are_no_data_with_its_reason() -> None:
    """Linkerd counts no ejections or overflows: None with Linkerd's reason, though other
    metrics were scraped; its retries come from its own series."""
    linkerd = LINKERD.bind()
    retries = linkerd.query("retries") or ""
    proxied = linkerd.query("proxied_requests") or ""
    metrics = pd.DataFrame(
        rows(proxied, [(float(t), 100.0 * t) for t in range(11)], direction="inbound")
        + rows(retries, [(3.0, 1.0), (7.0, 9.0)], mp_destination="catalog")
    )
    frames = RunFrames(
        steady_requests(10),
        compute_windows(steady_requests(10), PHASES),
        metrics=metrics,
        dialect=linkerd,
    )
    whole = summarize(frames, PHASES, [], [])["whole"]
    assert whole.values["ejections"] is None and whole.values["overflows"] is None
    assert whole.notes["ejections"].startswith("linkerd metrics: Linkerd's failure accrual")
    assert whole.notes["overflows"].startswith("linkerd metrics: Linkerd has no")
    assert whole.values["retries_per_krequests"] == pytest.approx(9.0 / 0.8)  # 800 requests
    assert whole.values["sidecar_rps"] == pytest.approx(100.0)


def test_a_dialect_with_the_signal_but_no_series_counts_zero() -> None:
    """Consul's Envoy counts overflows: metrics scraped, no overflow series -> 0, no note."""
    consul = CONSUL.bind()
    proxied = consul.query("proxied_requests") or ""
    metrics = pd.DataFrame(rows(proxied, [(float(t), 10.0 * t) for t in range(11)]))
    frames = RunFrames(
        steady_requests(10),
        compute_windows(steady_requests(10), PHASES),
        metrics=metrics,
        dialect=consul,
    )
    whole = summarize(frames, PHASES, [], [])["whole"]
    assert whole.values["overflows"] == 0.0 and "overflows" not in whole.notes


def test_sidecar_cpu_and_memory_from_cadvisor_for_a_mesh_meshproof_did_not_deploy() -> None:
    """No sidecar process sampled: Istio's cAdvisor series give the summed istio-proxy cores
    (each pod's mean) and the largest working set; without them, None and why."""
    istio = ISTIO.bind()
    cpu, memory = istio.query("sidecar_cpu_cores") or "", istio.query("sidecar_memory_bytes") or ""
    proxied = istio.query("proxied_requests") or ""
    points = [float(t) for t in range(11)]
    metrics = pd.DataFrame(
        rows(proxied, [(t, 1000.0 * t) for t in points])
        + rows(cpu, [(t, 0.1) for t in points], pod="a")
        + rows(cpu, [(t, 0.3 if t < 6 else 0.1) for t in points], pod="b")
        + rows(memory, [(t, 50 * 1024 * 1024.0) for t in points], pod="a")
        + rows(memory, [(t, 80 * 1024 * 1024.0) for t in points], pod="b")
    )
    frames = RunFrames(
        steady_requests(10),
        compute_windows(steady_requests(10), PHASES),
        metrics=metrics,
        dialect=istio,
    )
    whole = summarize(frames, PHASES, [], [])["whole"]
    cores = 0.1 + (0.3 * 4 + 0.1 * 4) / 8  # phase [2, 10): b is 0.3 at t 2..5, 0.1 at 6..9
    assert whole.values["sidecar_cpu_per_krps"] == pytest.approx(cores / 1.0)
    assert whole.values["sidecar_rss_mb"] == pytest.approx(80.0)
    without = RunFrames(
        steady_requests(10),
        compute_windows(steady_requests(10), PHASES),
        metrics=metrics[metrics["metric"] == proxied],
        dialect=istio,
    )
    bare = summarize(without, PHASES, [], [])["whole"]
    assert bare.values["sidecar_cpu_per_krps"] is None and bare.values["sidecar_rss_mb"] is None
    assert "no cAdvisor series of the sidecar container" in bare.notes["sidecar_rss_mb"]


def test_counters_that_appear_after_t0_count_from_zero_with_nothing_before_them() -> None:
    """A fresh mesh in Linkerd's names has no series at t0: every request counter first
    seen later counts from 0, even the earliest one of the table."""
    query = LINKERD.bind().query("edge_requests") or ""
    table = pd.DataFrame(
        rows(query, [(2.0, 7.0), (5.0, 20.0)], mp_source="a", mp_destination="b")
        + rows(query, [(3.0, 4.0)], mp_source="a", mp_destination="c")
    )
    found = counter_increase_by(table, query, ("mp_source", "mp_destination"), WHOLE)
    assert found == {("a", "b"): 20.0, ("a", "c"): 4.0}


def test_the_counters_to_ask_prometheus_about_are_those_without_rows() -> None:
    """Only a counted signal (retries, ejections, overflows) with a query and no rows in
    the table is asked about, by its family's name; NoData signals and ones with rows not."""
    linkerd, consul, meshproof = LINKERD.bind(), CONSUL.bind(), MESHPROOF.bind()
    requests_only = {linkerd.query("proxied_requests") or ""}
    assert linkerd.silent_counters(requests_only) == {
        "retries": "outbound_http_route_retry_requests_total"
    }
    assert consul.silent_counters(set()) == {
        "retries": "envoy_cluster_upstream_rq_retry",
        "ejections": "envoy_cluster_outlier_detection_ejections_enforced_total",
        "overflows": "envoy_cluster_upstream_rq_pending_overflow",
    }
    with_retries = {"meshproof_retries_total", "meshproof_overflow_total"}
    assert meshproof.silent_counters(with_retries) == {
        "ejections": "meshproof_outlier_ejections_total"
    }


def test_a_counter_whose_family_prometheus_never_had_is_not_judged() -> None:
    """Requests counted, no retry series: where Prometheus knows the retry family, retries
    are 0 and `retries_per_krequests < 1` passes; where it never had it (`with_unseen`), the
    SLO is NOT JUDGED (no value, neither passed nor failed, the run inconclusive, exit 3)
    with the family named, and run.json's dialect says no data for retries."""
    linkerd = LINKERD.bind()
    proxied = linkerd.query("proxied_requests") or ""
    metrics = pd.DataFrame(rows(proxied, [(float(t), 100.0 * t) for t in range(11)]))
    slo = SLO.model_validate("retries_per_krequests < 1")

    def verdict_in(dialect: BoundDialect) -> Verdict:
        frames = RunFrames(
            steady_requests(10),
            compute_windows(steady_requests(10), PHASES),
            metrics=metrics,
            dialect=dialect,
        )
        summaries = summarize(frames, PHASES, [], [slo])
        (verdict,) = judge([slo], summaries, unmeasured=unmeasured_metrics(dialect))
        return verdict

    known = verdict_in(linkerd)
    assert known.value == 0.0 and known.passed and not known.unmeasured
    unseen = linkerd.with_unseen(["retries"])
    absent = verdict_in(unseen)
    assert absent.value is None and not absent.passed and absent.unmeasured
    assert absent.reason == (
        "no data: Prometheus has no series of outbound_http_route_retry_requests_total during"
        " the run; the mesh may not export it, or its scrape job is missing"
    )
    assert run_status([absent], aborted=False) == "inconclusive"
    assert exit_code([absent], aborted=False) == 3
    assert run_status([absent, known.model_copy(update={"passed": False, "outcome": "fail"})],
                      aborted=False) == "failed"  # fmt: skip
    record = dialect_record(unseen)
    assert "retries" not in record.queries
    assert record.no_data["retries"].startswith("Prometheus has no series of outbound_http")
