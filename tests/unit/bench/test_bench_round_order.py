"""The mesh benchmark's rounds alternate their order, so no set-up is always measured last."""

from __future__ import annotations

from harness.bench.fortio_rounds import Sample, interleaved
from harness.bench.pairs import Target, round_order


def _targets(*names: str) -> list[Target]:
    return [Target(name, f"http://127.0.0.1:1/{name}", None, {}) for name in names]


def test_odd_rounds_keep_the_order_even_rounds_reverse_it() -> None:
    """Round 1 as given, round 2 reversed, round 3 as given again."""
    targets = _targets("direct", "mesh", "mesh-base")
    assert [t.name for t in round_order(targets, 1)] == ["direct", "mesh", "mesh-base"]
    assert [t.name for t in round_order(targets, 2)] == ["mesh-base", "mesh", "direct"]
    assert [t.name for t in round_order(targets, 3)] == ["direct", "mesh", "mesh-base"]


def test_over_two_rounds_every_target_has_the_same_mean_position() -> None:
    """A load rising steadily through a run favours no set-up: measured in turn, every
    target's mean position over rounds 1 and 2 is the same, and each round is sampled."""
    targets = _targets("direct", "haproxy", "mesh", "mesh-mtls", "mesh-base", "mesh-mtls-base")
    order: list[str] = []

    def run(target: Target, seconds: float) -> Sample:
        order.append(target.name)
        return Sample(qps=1.0, seconds=seconds, percentiles_ms={}, errors=0)

    warm, samples = interleaved(targets, 2, run, 0.0)
    measured = order[len(targets) :]  # after the warm-up runs
    positions = {t.name: [i for i, n in enumerate(measured) if n == t.name] for t in targets}
    assert {name: sum(p) for name, p in positions.items()} == {
        t.name: len(measured) - 1 for t in targets
    }
    assert set(warm) == set(samples) == {t.name for t in targets}
    assert all(len(runs) == 2 for runs in samples.values())
