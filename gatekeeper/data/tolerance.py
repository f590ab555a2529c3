"""How much of a rate a sample may show by chance: tolerances that know the sample's size (pure).

A reference rate seen in n rows is itself uncertain, and a segment of m rows drawn from the same
population shows a rate that varies around it. A tolerance set at exactly the observed rate
therefore fails healthy data about half the time on a small segment. Two numbers fix that:

- `rate_upper_bound(k, n)`: the Clopper-Pearson upper bound of a rate seen k times in n rows;
- `tolerated_share(k, n, m)`: the share a healthy sample of m rows stays under with probability
  `SAMPLE_CONFIDENCE`, given that rate bound (the binomial quantile), used by starter suites;
- `beyond_noise(unexpected, n, tolerated)`: whether `unexpected` of n rows is more than a
  sample can show when the true share is `tolerated` (a one-sided binomial test at `ALPHA`).
"""

from __future__ import annotations

import math

RATE_CONFIDENCE = 0.95  # how sure we want to be that the reference rate is not higher
SAMPLE_CONFIDENCE = 0.999  # the share of healthy samples of m rows a tolerance must pass
ALPHA = 0.001  # a finding is beyond noise when a healthy sample shows it less often than this


def rate_upper_bound(k: int, n: int, confidence: float = RATE_CONFIDENCE) -> float:
    """Clopper-Pearson upper bound of a rate seen `k` times in `n` rows."""
    from scipy.stats import beta

    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    return float(beta.ppf(confidence, k + 1, n - k))


def tolerated_share(k: int, n: int, m: int, confidence: float = SAMPLE_CONFIDENCE) -> float:
    """The share of a healthy m-row sample that may show what the reference showed k times in n rows."""
    from scipy.stats import binom

    p = rate_upper_bound(k, n)
    m = max(int(m), 1)
    return float(min(1.0, binom.ppf(confidence, m, p) / m))


def beyond_noise(unexpected: int, n: int, tolerated: float, alpha: float = ALPHA) -> bool:
    """`unexpected` of `n` rows is more than chance allows when the true share is `tolerated`."""
    from scipy.stats import binom

    if n <= 0 or unexpected <= 0:
        return False
    if tolerated <= 0:
        return True
    return bool(binom.sf(unexpected - 1, n, min(tolerated, 1.0)) < alpha)


def mostly(tolerated: float) -> float:
    """GX's `mostly` for a tolerated share, rounded down so the tolerance is never tightened."""
    return max(0.0, math.floor((1.0 - tolerated) * 10_000) / 10_000)
