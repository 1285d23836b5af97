"""The statistics of a comparison, pure: samples in, estimates and p-values out.

- `location_shift`: Mann-Whitney U (two-sided) with the Hodges-Lehmann shift estimate and
  its distribution-free confidence band (Kayenta's Mann-Whitney classifier does the same).
  The band comes from the ordered pairwise differences `y_j - x_i`: with
  `k = nm/2 - z(1-a/2) s` (s = sqrt(nm(n+m+1)/12), the spread of U) it is
  `[D_(k), D_(nm-k+1)]`, the shifts the U test does not reject. The p-value is read off the
  same differences (`rank_p`): the smallest alpha whose band leaves 0 out, so p < alpha
  exactly when the band excludes 0. Above `EXACT_PAIRS` differences the pairs are
  subsampled (seeded) and the same order statistics are read from the sample; the result
  says so in `method`. Too few values for a band at alpha (k < 1): no band (None), p >= alpha.
- Lag-1 autocorrelation `rho` (time windows of a run: the machine's state lasts longer
  than a second): a series whose neighbours correlate holds n (1 - rho) / (1 + rho)
  independent values, so every spread grows by `1 / autocorrelation_factor(rho)`: the
  rank test's s, or the bootstrap replicates' distance from the estimate. p and band are
  then read from that one widened distribution, so they cannot disagree.
- `welch_shift`: where the windows correlate so much that no ordering of them is
  significant (`rank_can_reject`: 20 windows a side from rho 0.77 on), ranks cannot tell a
  4x slower candidate from noise; Welch's t on the difference of means, each side counted
  as its effective values, weighs the shift against the spread instead
  (`window_location_shift` chooses, from rho and the counts alone).
- `two_proportions`: the pooled two-proportion z-test (error rate, trace completeness).
- `poisson_rates`: two event counts over two exposures (retries, ejections per request):
  the conditional binomial test (Przyborowski & Wilenski), exact.
- `quantile_shift`: a bootstrap band on the difference of one percentile (p50, p99).
  A bootstrap replicate of the k-th order statistic of n values is x_(J) with
  J = ceil(n U), U ~ Beta(k, n - k + 1) (the k-th of n uniforms), so each replicate costs
  O(1) after one sort: exact bootstrap, bounded work on 10^6 samples. It treats every
  value as independent; for requests that share a run's time, see the next.
- `block_quantile_shift`: the same band from a block bootstrap: whole time windows are
  drawn with replacement (Kunsch's moving blocks, here the windows of
  `harness.compare.windows`), so the correlation of the requests within a window stays in
  every replicate. A replicate weights each value by how often its window was drawn and
  takes the weighted quantile: O(n) per replicate after one sort.
  The band is also widened by `student_widening` for the effective windows (a spread
  estimated from few values, as a t-test reads t, not z).
- `percentile_band`: the band and two-sided p of bootstrap replicates, from the same order
  statistics (band excludes 0 exactly when p < alpha).

Every function takes a `numpy.random.Generator` when it draws, so results are seeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

EXACT_PAIRS = 2_000_000
"""Up to this many pairwise differences the Hodges-Lehmann band is computed exactly."""
SAMPLED_PAIRS = 400_000
BOOTSTRAP_RESAMPLES = 2_000
BLOCK_RESAMPLES = 1_000
MIN_EFFECTIVE = 2.0
"""Welch's t counts a side as at least this many independent values (df >= 1)."""
BLOCK_CHUNK_CELLS = 4_000_000
"""Replicates x values computed at once by the block bootstrap (memory, not results)."""


@dataclass(frozen=True)
class Estimate:
    """A change from baseline to candidate: point estimate, band, p-value, how."""

    delta: float
    low: float | None
    high: float | None
    """None: too few values for a band at alpha (then p >= alpha)."""
    p_value: float
    method: str


def clean(values: np.ndarray | list[float]) -> np.ndarray:
    """The finite values as float64."""
    array = np.asarray(values, dtype="float64")
    return array[np.isfinite(array)]


def autocorrelation_factor(rho: float) -> float:
    """sqrt((1 - rho) / (1 + rho)): how much a lag-1 autocorrelation `rho` shrinks the
    information of a series (AR(1)); 1 for rho <= 0."""
    return 1.0 if rho <= 0 else math.sqrt((1 - rho) / (1 + rho))


def student_widening(effective: float, alpha: float) -> float:
    """t(1 - alpha/2, effective - 2) / z(1 - alpha/2) (df at least 1): how much wider a band
    must be whose spread is estimated from `effective` independent values of two sides.

    The bootstrap's spread is such an estimate (Hesterberg's expanded percentile interval
    widens a small sample's band by this ratio too); 20 windows a side at rho 0.7 hold
    about 7 effective values in all, and the percentile band at z, read with a rho itself
    estimated from them, left 0 out of identical runs' p50 in 9 % of pairs at alpha 5 %.
    1.03 at 40 independent windows."""
    df = max(effective - 2, 1.0)
    return float(stats.t.ppf(1 - alpha / 2, df) / stats.norm.ppf(1 - alpha / 2))


def autocorrelation_note(rho: float) -> str:
    """What `method` adds when p and band were corrected for `rho` ('' for rho <= 0)."""
    return f"; p and band for lag-1 autocorrelation {rho:.2f}" if rho > 0 else ""


def _pairwise_differences(
    baseline: np.ndarray, candidate: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    """The sorted differences `candidate - baseline` (every pair, or a seeded sample)."""
    n, m = len(baseline), len(candidate)
    if n * m <= EXACT_PAIRS:
        return np.sort(np.subtract.outer(candidate, baseline).ravel()), "exact pairs"
    pairs = rng.integers(0, n, SAMPLED_PAIRS), rng.integers(0, m, SAMPLED_PAIRS)
    differences = np.sort(candidate[pairs[1]] - baseline[pairs[0]])
    return differences, f"{SAMPLED_PAIRS:,} sampled pairs of {n * m:,}"


def _rank_spread(n: int, m: int, rho: float) -> float:
    """U's standard deviation, widened for a lag-1 autocorrelation `rho`."""
    return math.sqrt(n * m * (n + m + 1) / 12) / autocorrelation_factor(rho)


def rank_can_reject(n: int, m: int, alpha: float, rho: float) -> bool:
    """Whether the rank test of n and m values at `rho` can reach p < alpha at all: with
    complete separation (U = 0) its p is 2 sf((nm/2 - 1) / spread). 20 windows a side
    cannot from rho 0.77 on: whatever the shift, every window above every other is p >= 5 %."""
    return 2 * float(stats.norm.sf((n * m / 2 - 1) / _rank_spread(n, m, rho))) < alpha


def rank_band(
    differences: np.ndarray, n: int, m: int, alpha: float, rho: float = 0.0
) -> tuple[float | None, float | None]:
    """[D_(k), D_(nm-k+1)] of the sorted differences (all nm, or a sample of them), k from
    U's spread widened for `rho`; (None, None) when k < 1 (too few values for the band).

    A sample of L differences stands for nm / L each: its index j = floor((k - 1) L / nm).
    """
    total, count = n * m, len(differences)
    spread = _rank_spread(n, m, rho)
    bound = total / 2 - float(stats.norm.ppf(1 - alpha / 2)) * spread
    index = math.floor((bound - 1) * count / total)
    if index < 0:
        return None, None
    return float(differences[index]), float(differences[count - 1 - index])


def rank_p(differences: np.ndarray, n: int, m: int, rho: float = 0.0) -> float:
    """The two-sided p of no shift read off the sorted differences: the smallest alpha whose
    `rank_band` leaves 0 out (U's normal approximation, 1 of continuity, spread widened
    for `rho`), so p < alpha exactly when that band excludes 0."""
    total, count = n * m, len(differences)
    below = int(np.searchsorted(differences, 0.0, side="right"))
    above = count - int(np.searchsorted(differences, 0.0, side="left"))
    beyond = min(below, above) * total / count
    spread = _rank_spread(n, m, rho)
    return min(1.0, float(2 * stats.norm.sf((total / 2 - beyond - 1) / spread)))


def hodges_lehmann(
    baseline: np.ndarray, candidate: np.ndarray, alpha: float, rng: np.random.Generator
) -> tuple[float, float | None, float | None, str]:
    """(shift, low, high, method): median of `candidate - baseline` pairs and its band."""
    differences, method = _pairwise_differences(baseline, candidate, rng)
    low, high = rank_band(differences, len(baseline), len(candidate), alpha)
    return float(np.median(differences)), low, high, method


def location_shift(
    baseline: np.ndarray,
    candidate: np.ndarray,
    alpha: float,
    rng: np.random.Generator,
    rho: float = 0.0,
) -> Estimate:
    """Mann-Whitney U with the Hodges-Lehmann shift (candidate minus baseline), p and band
    from the same pairwise differences, both corrected for a lag-1 autocorrelation `rho`."""
    n, m = len(baseline), len(candidate)
    differences, how = _pairwise_differences(baseline, candidate, rng)
    low, high = rank_band(differences, n, m, alpha, rho)
    p_value = rank_p(differences, n, m, rho)
    method = f"Mann-Whitney U, Hodges-Lehmann ({how}){autocorrelation_note(rho)}"
    return Estimate(float(np.median(differences)), low, high, p_value, method)


def effective_count(n: int, rho: float) -> float:
    """The independent values n AR(1) values at lag-1 autocorrelation `rho` hold,
    n (1 - rho) / (1 + rho), never fewer than `MIN_EFFECTIVE` (nor more than n)."""
    return min(float(n), max(MIN_EFFECTIVE, n * autocorrelation_factor(rho) ** 2))


def welch_shift(baseline: np.ndarray, candidate: np.ndarray, alpha: float, rho: float) -> Estimate:
    """Welch's t on the difference of means, each side's n counted as its effective values
    at `rho` (`effective_count`), the degrees of freedom Welch-Satterthwaite's from them;
    p and band from that one t distribution. It weighs the shift against the sides'
    spread, where ranks see only the order: 20 windows a side at rho 0.9 hold about one
    independent value each, and no ordering of them is significant, but a 4x slower
    candidate whose every window is 30 standard errors above the baseline's is."""
    n, m = len(baseline), len(candidate)
    n_eff, m_eff = effective_count(n, rho), effective_count(m, rho)
    delta = float(candidate.mean() - baseline.mean())
    base_var = float(baseline.var(ddof=1)) / n_eff
    cand_var = float(candidate.var(ddof=1)) / m_eff
    variance = base_var + cand_var
    method = (
        f"Welch's t on the difference of means, {n_eff:.1f} + {m_eff:.1f} effective values "
        f"(a rank test of {n} + {m} at lag-1 autocorrelation {rho:.2f} cannot reject "
        f"at {alpha:g})"
    )
    if variance <= 0:
        return Estimate(delta, delta, delta, 0.0 if delta else 1.0, method + "; no spread")
    df = variance**2 / (base_var**2 / (n_eff - 1) + cand_var**2 / (m_eff - 1))
    se = math.sqrt(variance)
    reach = float(stats.t.ppf(1 - alpha / 2, df)) * se
    p_value = float(2 * stats.t.sf(abs(delta) / se, df))
    return Estimate(delta, delta - reach, delta + reach, p_value, f"{method}; df {df:.1f}")


def window_location_shift(
    baseline: np.ndarray,
    candidate: np.ndarray,
    alpha: float,
    rng: np.random.Generator,
    rho: float,
) -> Estimate:
    """The shift of two sides' window statistics: `location_shift` (ranks), or where the
    windows correlate so much that ranks could not reject at alpha whatever the shift
    (`rank_can_reject`), `welch_shift`. Chosen from rho and the counts, never from the
    outcome."""
    if tests_means(len(baseline), len(candidate), alpha, rho):
        return welch_shift(baseline, candidate, alpha, rho)
    return location_shift(baseline, candidate, alpha, rng, rho)


def tests_means(n: int, m: int, alpha: float, rho: float) -> bool:
    """Whether `window_location_shift` of n and m windows at `rho` tests their means
    (Welch's t) rather than their ranks: what each side's typical value must then be."""
    return rho > 0 and not rank_can_reject(n, m, alpha, rho)


def two_proportions(
    baseline_hits: int, baseline_n: int, candidate_hits: int, candidate_n: int, alpha: float
) -> Estimate:
    """Pooled two-proportion z-test; the band is the unpooled Wald interval of the difference."""
    p1, p2 = baseline_hits / baseline_n, candidate_hits / candidate_n
    pooled = (baseline_hits + candidate_hits) / (baseline_n + candidate_n)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / baseline_n + 1 / candidate_n))
    delta = p2 - p1
    p_value = 1.0 if spread == 0 else float(2 * stats.norm.sf(abs(delta) / spread))
    wald = math.sqrt(p1 * (1 - p1) / baseline_n + p2 * (1 - p2) / candidate_n)
    z = stats.norm.ppf(1 - alpha / 2)
    return Estimate(delta, delta - z * wald, delta + z * wald, p_value, "two-proportion z-test")


def poisson_rates(
    baseline_count: int,
    baseline_exposure: float,
    candidate_count: int,
    candidate_exposure: float,
    alpha: float,
) -> Estimate:
    """Difference of two event rates (per unit exposure), conditional binomial test."""
    r1, r2 = baseline_count / baseline_exposure, candidate_count / candidate_exposure
    total = baseline_count + candidate_count
    share = candidate_exposure / (baseline_exposure + candidate_exposure)
    p_value = 1.0 if total == 0 else float(stats.binomtest(candidate_count, total, share).pvalue)
    spread = math.sqrt(
        baseline_count / baseline_exposure**2 + candidate_count / candidate_exposure**2
    )
    z = stats.norm.ppf(1 - alpha / 2)
    delta = r2 - r1
    return Estimate(delta, delta - z * spread, delta + z * spread, p_value, "Poisson rates test")


def percentile_band(
    delta: float, replicates: np.ndarray, alpha: float, rho: float = 0.0
) -> tuple[float, float, float]:
    """(low, high, p) of bootstrap replicates of `delta`, first widened around `delta` by
    1 / autocorrelation_factor(rho). The band is the order statistics k and B - k + 1 of the
    B replicates, k = ceil(alpha B / 2); p = (2 min(#(r <= 0), #(r >= 0)) + 1) / (B + 1),
    never 0 (no replicate beyond 0 says p < 2 / B, not that it is 0). So 0 is outside the
    band exactly when p < alpha: one distribution gives both."""
    widened = np.sort(delta + (replicates - delta) / autocorrelation_factor(rho))
    count = len(widened)
    index = min(max(math.ceil(alpha * count / 2), 1), count) - 1
    below = int(np.searchsorted(widened, 0.0, side="right"))
    above = count - int(np.searchsorted(widened, 0.0, side="left"))
    p_value = min(1.0, (2 * min(below, above) + 1) / (count + 1))
    return float(widened[index]), float(widened[count - 1 - index]), p_value


def bootstrap_quantiles(
    ordered: np.ndarray, q: float, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap replicates of the q-quantile (order statistic ceil(qn)) of sorted values."""
    n = len(ordered)
    k = min(max(math.ceil(q * n), 1), n)
    uniforms = rng.beta(k, n - k + 1, resamples)
    index = np.clip(np.ceil(uniforms * n).astype("int64") - 1, 0, n - 1)
    return ordered[index]


def quantile_shift(
    baseline: np.ndarray,
    candidate: np.ndarray,
    q: float,
    alpha: float,
    rng: np.random.Generator,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Estimate:
    """Percentile-bootstrap band and two-sided bootstrap p-value of q(candidate) - q(baseline)."""
    left, right = np.sort(baseline), np.sort(candidate)
    delta = float(np.quantile(right, q) - np.quantile(left, q))
    replicates = bootstrap_quantiles(right, q, resamples, rng) - bootstrap_quantiles(
        left, q, resamples, rng
    )
    low, high, p_value = percentile_band(delta, replicates, alpha)
    method = f"bootstrap ({resamples} seeded resamples)"
    return Estimate(delta, low, high, p_value, method)


def block_bootstrap_quantiles(
    values: np.ndarray,
    block: np.ndarray,
    blocks: int,
    q: float,
    resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Replicates of the q-quantile (inverted CDF) of `values` when whole blocks are resampled.

    A replicate draws each block some number of times; its quantile is the first value (in
    sorted order) whose running weight reaches q of the total. The running weight is monotone,
    so each replicate binary-searches for that position: at a position, the weight is the sum
    over blocks of (times drawn x the block's values up to there), counted by one searchsorted
    over the (block, position) keys. log2(values) steps of replicates x blocks each, where a
    running sum over every value costs replicates x values.
    """
    order = np.argsort(values, kind="stable")
    ordered, owner = values[order], block[order].astype(np.int64)
    n = len(ordered)
    keys = np.sort(owner * (n + 1) + np.arange(n))
    starts = np.arange(blocks, dtype=np.int64) * (n + 1)
    first = np.searchsorted(keys, starts)
    sizes = np.bincount(owner, minlength=blocks)
    out = np.empty(resamples)
    chunk = max(1, BLOCK_CHUNK_CELLS // max(n, 1))
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        draws = rng.integers(0, blocks, (rows, blocks))
        cells = (draws + blocks * np.arange(rows)[:, None]).ravel()
        times = np.bincount(cells, minlength=rows * blocks).reshape(rows, blocks)
        targets = q * (times @ sizes)
        low, high = np.zeros(rows, dtype=np.int64), np.full(rows, n, dtype=np.int64)
        for _ in range(n.bit_length()):
            mid = (low + high) // 2
            upto = np.minimum(mid, n - 1)[:, None] + starts
            weight = ((np.searchsorted(keys, upto, side="right") - first) * times).sum(axis=1)
            below = weight < targets
            searching = low < high
            low = np.where(searching & below, mid + 1, low)
            high = np.where(searching & ~below, mid, high)
        out[start : start + rows] = ordered[np.minimum(low, n - 1)]
    return out


def block_quantile_shift(
    baseline: tuple[np.ndarray, np.ndarray, int],
    candidate: tuple[np.ndarray, np.ndarray, int],
    q: float,
    alpha: float,
    rng: np.random.Generator,
    resamples: int = BLOCK_RESAMPLES,
    rho: float = 0.0,
) -> Estimate:
    """Block-bootstrap band and two-sided p of q(candidate) - q(baseline), the replicates
    widened for the blocks' lag-1 autocorrelation `rho` (drawing whole blocks keeps the
    correlation within a block, not the one between neighbours) and by `student_widening`
    for the effective blocks of both sides, (n + m) (1 - rho) / (1 + rho).

    Each side is (values, block of each value 0..blocks-1, blocks).
    """
    delta = float(np.quantile(candidate[0], q) - np.quantile(baseline[0], q))
    replicates = block_bootstrap_quantiles(*candidate, q, resamples, rng)
    replicates = replicates - block_bootstrap_quantiles(*baseline, q, resamples, rng)
    effective = (baseline[2] + candidate[2]) * autocorrelation_factor(rho) ** 2
    replicates = delta + (replicates - delta) * student_widening(effective, alpha)
    low, high, p_value = percentile_band(delta, replicates, alpha, rho)
    method = f"block bootstrap over windows ({resamples} seeded resamples)"
    method += f"{autocorrelation_note(rho)}; Student t for {effective:.1f} effective windows"
    return Estimate(delta, low, high, p_value, method)
