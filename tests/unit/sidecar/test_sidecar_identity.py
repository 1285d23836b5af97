"""The identity keeper's schedule: a renewal time drawn once per certificate, jittered."""

from __future__ import annotations

import random
import ssl

from mesh_runtime.sidecar.identity import (
    KEY_BY,
    RENEW_JITTER,
    CertificateClient,
    IdentityKeeper,
    key_due,
)
from mesh_runtime.sidecar.tls import Credentials
from tests.fixtures.fixed_random import Fixed


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def credentials(issued_at: float, not_after: float, serial: int = 1) -> Credentials:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return Credentials("spiffe://t/ns/default/sa/a", serial, not_after, issued_at, context, context)


def keeper(seed: int, clock: Clock) -> IdentityKeeper:
    client = CertificateClient("http://127.0.0.1:1", "token", "a", "a-0")
    return IdentityKeeper(client, random.Random(seed), clock)


def test_the_first_fetch_is_at_once_and_a_renewal_is_drawn_once_per_certificate() -> None:
    """No certificate: fetch now. A certificate: wait until its renewal, drawn when it
    was taken (asking again does not draw again), within the jitter of half its life."""
    clock = Clock(1000.0)
    k = keeper(1, clock)
    assert k.next_delay() == 0.0
    k.take(credentials(1000.0, 4600.0))
    first = k.next_delay()
    assert 1800 * (1 - 2 * RENEW_JITTER) <= first <= 1800 * (1 + 2 * RENEW_JITTER)
    assert k.next_delay() == first
    clock.now += 100.0
    assert k.next_delay() == first - 100.0
    clock.now = k.due + 5.0
    assert k.next_delay() == 0.0


def test_each_renewal_draws_anew_and_is_counted() -> None:
    """The second certificate gets its own draw (not the first one's offset) and counts as
    a renewal; the first did not."""
    clock = Clock(0.0)
    k = keeper(2, clock)
    k.take(credentials(0.0, 3600.0))
    offset = k.due - 1800.0
    assert k.renewals == 0
    clock.now = k.due
    k.take(credentials(clock.now, clock.now + 3600.0, serial=2))
    assert k.renewals == 1
    assert k.due - (clock.now + 1800.0) != offset


def test_sidecars_with_the_same_certificate_times_renew_apart() -> None:
    """Six keepers (own random sources) given certificates issued in the same second are
    due at six different seconds."""
    dues = []
    for seed in range(6):
        k = keeper(seed, Clock(0.0))
        k.take(credentials(0.0, 3600.0))
        dues.append(int(k.due))
    assert len(set(dues)) == 6


def test_the_next_key_is_made_in_the_first_half_of_the_wait_at_a_moment_of_its_own() -> None:
    """key_due draws uniformly over the first KEY_BY of the wait for the renewal: never
    after it, and six sidecars' children at six different seconds."""
    assert key_due(0.0, 1800.0, Fixed(0.0)) == 0.0
    assert key_due(0.0, 1800.0, Fixed(1.0)) == 1800.0 * KEY_BY
    assert key_due(100.0, 50.0, Fixed(1.0)) == 100.0  # a renewal due already: now
    moments = [key_due(0.0, 1800.0, random.Random(seed)) for seed in range(6)]
    assert len({int(m) for m in moments}) == 6


def test_taking_a_certificate_draws_its_key_moment_before_its_renewal() -> None:
    """The keeper's key moment lies between the certificate's issue and its renewal."""
    clock = Clock(0.0)
    k = keeper(3, clock)
    k.take(credentials(0.0, 3600.0))
    assert 0.0 <= k.key_at <= k.due * KEY_BY < k.due
