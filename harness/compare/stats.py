"""The statistics of a comparison, pure: samples in, estimates and p-values out.

- `location_shift`: Mann-Whitney U (two-sided) with the Hodges-Lehmann shift estimate and
  its distribution-free confidence band (Kayenta's Mann-Whitney classifier does the same).
  The band comes from the ordered pairwise differences `y_j - x_i`: with
  `k = nm/2 - z(1-a/2) sqrt(nm(n+m+1)/12)` it is `[D_(k), D_(nm-k+1)]`. Above
  `EXACT_PAIRS` differences the pairs are subsampled (seeded) and the same order
  statistics are read as quantiles of the sample; the result says so in `method`.
- `for_autocorrelation`: a test on a series whose neighbours correlate (time windows of a
  run: the machine's state lasts longer than a second) holds fewer independent values
  than its length; its p-value and band are corrected for the lag-1 autocorrelation.
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
BLOCK_CHUNK_CELLS = 4_000_000
"""Replicates x values computed at once by the block bootstrap (memory, not results)."""


@dataclass(frozen=True)
class Estimate:
    """A change from baseline to candidate: point estimate, band, p-value, how."""

    delta: float
    low: float
    high: float
    p_value: float
    method: str


def clean(values: np.ndarray | list[float]) -> np.ndarray:
    """The finite values as float64."""
    array = np.asarray(values, dtype="float64")
    return array[np.isfinite(array)]


def mann_whitney_p(baseline: np.ndarray, candidate: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value (1.0 when every value is equal)."""
    if np.ptp(np.concatenate([baseline, candidate])) == 0:
        return 1.0
    method = "asymptotic" if min(len(baseline), len(candidate)) > 50 else "auto"
    result = stats.mannwhitneyu(candidate, baseline, alternative="two-sided", method=method)
    return float(result.pvalue)


def _rank_bounds(n: int, m: int, alpha: float) -> tuple[int, int]:
    """1-based ranks (k, nm - k + 1) of the ordered differences bounding the band."""
    total = n * m
    z = stats.norm.ppf(1 - alpha / 2)
    k = math.floor(total / 2 - z * math.sqrt(total * (n + m + 1) / 12))
    k = min(max(k, 1), total)
    return k, total - k + 1


def hodges_lehmann(
    baseline: np.ndarray, candidate: np.ndarray, alpha: float, rng: np.random.Generator
) -> tuple[float, float, float, str]:
    """(shift, low, high, method): median of `candidate - baseline` pairs and its band."""
    n, m = len(baseline), len(candidate)
    k, upper = _rank_bounds(n, m, alpha)
    if n * m <= EXACT_PAIRS:
        differences = np.sort(np.subtract.outer(candidate, baseline).ravel())
        shift = float(np.median(differences))
        return shift, float(differences[k - 1]), float(differences[upper - 1]), "exact pairs"
    pairs = rng.integers(0, n, SAMPLED_PAIRS), rng.integers(0, m, SAMPLED_PAIRS)
    differences = candidate[pairs[1]] - baseline[pairs[0]]
    low_q, high_q = (k - 1) / (n * m - 1), (upper - 1) / (n * m - 1)
    low, shift, high = np.quantile(differences, [low_q, 0.5, high_q])
    method = f"{SAMPLED_PAIRS:,} sampled pairs of {n * m:,}"
    return float(shift), float(low), float(high), method


def location_shift(
    baseline: np.ndarray, candidate: np.ndarray, alpha: float, rng: np.random.Generator
) -> Estimate:
    """Mann-Whitney U with the Hodges-Lehmann shift (candidate minus baseline)."""
    p_value = mann_whitney_p(baseline, candidate)
    shift, low, high, how = hodges_lehmann(baseline, candidate, alpha, rng)
    return Estimate(shift, low, high, p_value, f"Mann-Whitney U, Hodges-Lehmann ({how})")


def for_autocorrelation(estimate: Estimate, rho: float) -> Estimate:
    """The estimate's p-value and band for samples with lag-1 autocorrelation `rho` > 0.

    A series whose neighbours correlate by rho (AR(1)) carries the information of
    n (1 - rho) / (1 + rho) independent values, so the test statistic shrinks by
    sqrt((1 - rho) / (1 + rho)) (the two-sided p is recomputed from its normal z) and the
    band widens around the estimate by the inverse. rho <= 0 leaves it as it was.
    """
    if rho <= 0:
        return estimate
    factor = math.sqrt((1 - rho) / (1 + rho))
    z = float(stats.norm.isf(max(estimate.p_value, 1e-300) / 2)) * factor
    p_value = min(1.0, float(2 * stats.norm.sf(z)))
    low = estimate.delta - (estimate.delta - estimate.low) / factor
    high = estimate.delta + (estimate.high - estimate.delta) / factor
    method = f"{estimate.method}; p and band for lag-1 autocorrelation {rho:.2f}"
    return Estimate(estimate.delta, low, high, p_value, method)


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
    low, high = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    below, above = float(np.mean(replicates <= 0)), float(np.mean(replicates >= 0))
    p_value = min(1.0, 2 * min(below, above))
    method = f"bootstrap ({resamples} seeded resamples)"
    return Estimate(delta, float(low), float(high), p_value, method)


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
) -> Estimate:
    """Block-bootstrap band and two-sided p of q(candidate) - q(baseline).

    Each side is (values, block of each value 0..blocks-1, blocks).
    """
    delta = float(np.quantile(candidate[0], q) - np.quantile(baseline[0], q))
    replicates = block_bootstrap_quantiles(*candidate, q, resamples, rng)
    replicates = replicates - block_bootstrap_quantiles(*baseline, q, resamples, rng)
    low, high = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    below, above = float(np.mean(replicates <= 0)), float(np.mean(replicates >= 0))
    p_value = min(1.0, 2 * min(below, above))
    method = f"block bootstrap over windows ({resamples} seeded resamples)"
    return Estimate(delta, float(low), float(high), p_value, method)
