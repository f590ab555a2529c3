"""One delta's status from its paired bootstrap interval (pure).

For a delta with tolerance t (a key segment's `max_regression`; 0 elsewhere), with gain = delta
oriented so that positive is better and the interval at the configured level:

- `regressed`     the whole interval lies below -t
- `at_risk`       the gain is below -t but the interval reaches above it
- `inconclusive`  the gain is at or above -t but the interval reaches below it
- `improved`      the interval lies above 0 and the gain is at least `min_improvement`
- `no_change`     otherwise
- `insufficient_data` (fewer than `min_segment_rows`, too few of a class for a
  class-sensitive metric, or, where rows are resampled in units (entities, time blocks, runs of the
  file's order), fewer than `MIN_INTERVAL_UNITS` of them: an interval from so few is too narrow),
  `undefined` (the metric cannot be computed there), `baseline` (no champion yet).

Segment statuses are corrected for multiple testing across the segment family (Holm or
Benjamini-Hochberg on the bootstrap tail probabilities behind `regressed` and `improved`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gatekeeper.metrics import metric
from gatekeeper.stats.bootstrap import PairedDelta
from gatekeeper.stats.inference import tail_probability
from gatekeeper.vocabulary import SegmentStatus

DEFAULT_EFFECT = 0.01  # the change a rows-needed estimate aims at when no tolerance is configured


@dataclass(frozen=True)
class Judged:
    """A delta with its status and the numbers behind it."""

    status: SegmentStatus
    ci_low: float | None = None
    ci_high: float | None = None
    p_value_regressed: float | None = None  # corrected: small supports `regressed`
    p_value_improved: float | None = None  # corrected: small supports `improved`


def raw_p_values(delta: PairedDelta, tolerance: float) -> tuple[float, float] | None:
    """(P*(gain >= -t), P*(gain <= 0)): small values support `regressed` / `improved`."""
    gains = delta.gains()
    if gains is None or delta.gain is None:
        return None
    return tail_probability(gains, -tolerance, upper=True), tail_probability(gains, 0.0, upper=False)


def judge(
    delta: PairedDelta,
    *,
    min_rows: int,
    tolerance: float,
    min_improvement: float,
    level: float,
    p_values: tuple[float, float] | None = None,
    min_class_rows: int = 1,
) -> Judged:
    """Status of one delta; `p_values` may carry family-adjusted values from `raw_p_values`."""
    if (
        delta.n < min_rows
        or metric(delta.metric).too_few_of_a_class(delta.minority, min_class_rows)
        or delta.too_few_units
    ):
        return Judged("insufficient_data", *delta.interval(level))
    if delta.undefined_reason:
        return Judged("undefined")
    gains = delta.gains()
    gain = delta.gain
    if delta.champion is None or gains is None or gain is None:
        return Judged("baseline")
    lo, hi = delta.interval(level)
    p_reg, p_imp = p_values or raw_p_values(delta, tolerance) or (1.0, 1.0)
    half = (1 - level) / 2
    status: SegmentStatus
    if p_reg < half:
        status = "regressed"
    elif p_imp < half and gain > 0 and gain >= min_improvement:
        status = "improved"
    elif gain < -tolerance:
        status = "at_risk"
    elif float(np.quantile(gains, half)) < -tolerance:
        status = "inconclusive"
    else:
        status = "no_change"
    return Judged(status, lo, hi, p_reg, p_imp)


def judgeable(delta: PairedDelta, *, min_rows: int, min_class_rows: int) -> bool:
    """Enough rows (and of each class, for class-sensitive metrics; and of units, where rows come in
    units) and a defined metric."""
    return (
        delta.n >= min_rows
        and not metric(delta.metric).too_few_of_a_class(delta.minority, min_class_rows)
        and not delta.too_few_units
        and not delta.undefined_reason
    )
