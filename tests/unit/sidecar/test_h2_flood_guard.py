"""The HTTP/2 flood guard: resets, SETTINGS and PINGs counted per connection per second."""

from __future__ import annotations

from mesh_runtime.sidecar.h2_guard import FloodGuard, FloodLimits


def test_rapid_reset_over_the_limit_is_refused() -> None:
    """The 201st reset within one second is refused (CVE-2023-44487's shape)."""
    guard = FloodGuard(FloodLimits(resets_per_s=200))
    verdicts = [guard.record("reset", 10.0 + i * 0.001) for i in range(201)]
    assert verdicts[:200] == [None] * 200
    assert verdicts[200] == "more than 200 reset frames in one second"


def test_a_steady_rate_under_the_limit_goes_on() -> None:
    """Resets spread over seconds are counted per second and never refused."""
    guard = FloodGuard(FloodLimits(resets_per_s=10))
    assert all(guard.record("reset", i * 0.11) is None for i in range(200))


def test_kinds_are_counted_apart() -> None:
    """SETTINGS and PINGs have their own counts and limits."""
    guard = FloodGuard(FloodLimits(settings_per_s=2, pings_per_s=3))
    assert guard.record("settings", 0.0) is None
    assert guard.record("settings", 0.1) is None
    assert [guard.record("ping", 0.2) for _ in range(3)] == [None] * 3
    assert guard.record("ping", 0.3) == "more than 3 ping frames in one second"
    assert guard.record("settings", 0.4) == "more than 2 settings frames in one second"


def test_a_ping_after_each_answer_is_never_a_flood() -> None:
    """gRPC's BDP pings: one after every answer, 1000 a second, all let through."""
    guard = FloodGuard(FloodLimits(pings_per_s=50))
    verdicts = []
    for i in range(1000):
        guard.answered()
        verdicts.append(guard.record("ping", i * 0.001))
    assert verdicts == [None] * 1000


def test_an_answer_frees_one_ping_not_the_ones_behind_it() -> None:
    """Only the first ping after an answer is free: the ones behind it are counted, and
    a flood of them is refused."""
    guard = FloodGuard(FloodLimits(pings_per_s=3))
    guard.answered()
    assert guard.record("ping", 0.0) is None
    assert [guard.record("ping", 0.1) for _ in range(3)] == [None] * 3
    assert guard.record("ping", 0.2) == "more than 3 ping frames in one second"
