"""The mesh benchmark's summary: medians, added latency, CPU per 1000 RPS, ratios."""

from __future__ import annotations

import pytest

from harness.bench.fortio_rounds import Sample
from harness.bench.mesh import ENVOY_ADDED_MS, summarise


def sample(p50: float, p90: float, p99: float, cpu: dict[str, float] | None = None) -> Sample:
    return Sample(
        qps=1000.0,
        seconds=10.0,
        percentiles_ms={50.0: p50, 90.0: p90, 99.0: p99},
        errors=0,
        requests=10_000,
        cpu_s=cpu or {},
        rss_mb={role: 40.0 + i for i, role in enumerate(cpu or {})},
    )


def runs() -> dict[str, list[Sample]]:
    return {
        "direct": [sample(0.5, 0.9, 1.0), sample(0.6, 1.0, 1.2), sample(0.4, 0.8, 5.0)],
        "haproxy": [sample(0.6, 1.1, 1.2, {"hc": 0.8, "hs": 0.7})] * 3,
        "mesh": [
            sample(0.9, 1.5, 3.0, {"sc": 2.0, "ss": 1.8}),
            sample(1.0, 1.6, 4.0, {"sc": 2.2, "ss": 1.9}),
            sample(1.1, 1.9, 9.0, {"sc": 2.6, "ss": 2.0}),
        ],
    }


def test_added_latency_is_the_difference_of_medians() -> None:
    """Each set-up's median percentile minus direct's median is what it adds."""
    result = summarise(runs())
    assert result["percentiles_ms"]["direct"] == {"p50": 0.5, "p90": 0.9, "p99": 1.2}
    assert result["added_ms"]["mesh"] == pytest.approx({"p50": 0.5, "p90": 0.7, "p99": 2.8})
    assert result["added_ms"]["haproxy"] == pytest.approx({"p50": 0.1, "p90": 0.2, "p99": 0.0})
    assert result["added_ratio_vs_envoy"]["mesh"] == pytest.approx(
        {"p90": 0.7 / ENVOY_ADDED_MS[90.0], "p99": 2.8 / ENVOY_ADDED_MS[99.0]}
    )


def test_cpu_is_cores_per_thousand_rps_per_process() -> None:
    """CPU seconds over the run's seconds, per 1000 RPS, median of rounds, per process."""
    result = summarise(runs())
    assert result["cpu_per_krps"]["mesh"] == pytest.approx({"sc": 0.22, "ss": 0.19})
    assert result["cpu_per_krps"]["haproxy"] == pytest.approx({"hc": 0.08, "hs": 0.07})
    assert result["rss_mb"] == {"haproxy": 41.0, "mesh": 41.0}


def test_envoy_figures_are_the_targets_and_haproxy_only_the_floor() -> None:
    """Istio's published Envoy figures are printed beside ours; HAProxy gets no ratio."""
    result = summarise(runs())
    assert result["envoy"] == {"added_ms": {"p90": 0.228, "p99": 0.298}, "cpu_per_krps": 0.20}
    assert set(result["added_ratio_vs_envoy"]) == {"mesh"}
    assert result["targets"]["sidecar_rss_mb"] == 40.0


def test_a_baseline_pair_is_summarised_beside_the_current_one() -> None:
    """`--baseline REV`'s pairs are set-ups like the others: added latency, CPU, ratio."""
    data = runs()
    data["mesh-base"] = [sample(1.5, 2.5, 6.0, {"bc": 3.0, "bs": 2.5})] * 3
    result = summarise(data)
    assert result["added_ms"]["mesh-base"] == pytest.approx({"p50": 1.0, "p90": 1.6, "p99": 4.8})
    assert result["cpu_per_krps"]["mesh-base"] == pytest.approx({"bc": 0.3, "bs": 0.25})
    assert set(result["added_ratio_vs_envoy"]) == {"mesh", "mesh-base"}
