"""Evidence counted in independent units (`gatekeeper.stats.units` says what a unit is): a rate in a
slice against the reference's (`unit_test`), and a difference of means (`mean_difference`).

A rate compared in units: between entities, against the reference's rate with the rows of an entity
correlated and entity by entity; in time and file order, against the highest rate the reference
showed in any stretch of it, since the world moves: a slice whose labels swing from 30% to 80%
between months by nature is not broken when a new month shows 85%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from gatekeeper.metrics import Array
from gatekeeper.stats.units import MIN_UNITS, Units


@dataclass(frozen=True)
class UnitEvidence:
    """A rate in a slice, counted per unit: the test against the reference's rate."""

    rate: float
    reference_rate: float
    units: int  # the batch's units with rows in the slice
    units_showing: int  # of them, the units where the slice shows the anomaly at all
    natural_high: float  # the highest rate a stretch of the reference showed (slice or whole table)
    p_value: float


def between_variance(counts: Array, rows: Array, upper: float | None = None) -> float:
    """The variance of the true rate between units beyond their binomial noise (moments; >= 0);
    with `upper` (a confidence, 0.95), its one-sided upper bound instead: the between-unit mean
    square is chi-square with one fewer degrees of freedom than units (the interval of the
    one-way random-effects model)."""
    from scipy.stats import chi2

    keep = rows > 0
    counts, rows = counts[keep].astype(float), rows[keep].astype(float)
    total = rows.sum()
    if len(rows) < 2 or total <= 0:
        return 0.0
    p = counts.sum() / total
    if p <= 0 or p >= 1:
        return 0.0
    rates = counts / rows
    spread = float(np.sum(rows * (rates - p) ** 2) / (len(rows) - 1))  # weighted between-unit MS
    if upper is not None:
        spread *= (len(rows) - 1) / float(chi2.ppf(1 - upper, len(rows) - 1))
    n0 = (total - float(np.sum(rows**2)) / total) / (len(rows) - 1)  # effective rows per unit
    return max(0.0, float((spread - p * (1 - p)) / max(n0, 1.0)))


def unit_test(
    hits: Array,
    units: Units,
    reference_hits: Array,
    reference_units: Units,
    *,
    whole_reference: Array | None = None,
    stretch_rows: int = 30,
    reference_order: Array | None = None,
) -> UnitEvidence:
    """A one-sided test that the batch slice's rate exceeds what the reference's says it may be.

    `hits` are the batch's rows as a float each (1: in the slice and shows the anomaly, 0: in the
    slice and does not, nan: not counted); `reference_hits` the same for the reference.

    - The world moves, so the batch is compared with the reference's highest stretch: in the slice,
      any `stretch_rows` consecutive rows of it in order (`reference_order`), and, with `whole_reference` (the
      anomaly over all the reference's rows), runs of whole units holding `stretch_rows`: a slice
      cut on a number that tracks time (a published rate) is one period, and its own stretches
      never saw the others. A stretch's rate is its 90% lower bound (a short stretch high by noise
      does not set the bar; the highest of many still errs toward calling movement natural); a
      stretch that showed the anomaly in every row (labels all of one class for a while, a sensor
      off for a while) says the slice does that by nature. The finding must also show in
      `MIN_UNITS` units (the caller's rule).
    - Entities (clusters), also: the difference of the two rates over its standard error with the
      rows of an entity correlated (the between-entity variance, by moments on the reference), or
      entity by entity: how many of the batch's entities sit above the reference's rate, and how
      many show it in every row (36 entities all of one class where the reference's were mixed),
      each against the chance an entity of its size has of doing so in the reference's world
      (`_entity_by_entity`); the smallest of those three, tripled, and the stretches' test must agree.
    """
    counts, rows = per_unit(hits, units)
    ref_counts, ref_rows = per_unit(reference_hits, reference_units)
    n, n_ref = float(rows.sum()), float(ref_rows.sum())
    count = float(counts.sum())
    rate = count / n if n else 0.0
    ref_rate = float(ref_counts.sum()) / n_ref if n_ref else 0.0
    shown = (int(np.count_nonzero(rows)), int(np.count_nonzero(counts)))
    stretches: list[tuple[float, float]] = []  # (count, rows) of the highest stretch of each kind
    if units.kind == "cluster":
        # a stretch is a quarter as many consecutive entities (in the file's order) as the batch's
        # slice holds, at least `MIN_UNITS`: one entity all of one class says little of a group
        size = max(MIN_UNITS, shown[0] // 4)
        groups = (np.arange(reference_units.count) // size).astype(np.int64)
        per_group = [(ref_counts, ref_rows)]
        if whole_reference is not None:
            per_group.append(per_unit(whole_reference, reference_units))
        for k, m in per_group:
            stretches.append(_highest_stretch(np.bincount(groups, k), np.bincount(groups, m), stretch_rows))
    else:
        # the slice's stretches: any `stretch_rows` consecutive rows of it in order (a slice's rate
        # can swing with a regime shorter than a unit); the whole table's: units, whole
        ordered = np.asarray(reference_hits, dtype=float)
        ordered = ordered if reference_order is None else ordered[reference_order]
        ordered = ordered[~np.isnan(ordered)]
        stretches.append(_highest_window(ordered, stretch_rows))
        if whole_reference is not None:
            whole = per_unit(whole_reference, reference_units)
            size = max(stretch_rows, min(round(n), reference_units.length))
            stretches.append(_highest_stretch(*whole, size))
    # the batch against each highest stretch: is it beyond even that?
    p_value = max([_beyond(count, n, k, m) for k, m in stretches], default=0.0)
    high = max([_lower(k, m) for k, m in stretches], default=0.0)
    if units.kind == "cluster":  # and the rows of an entity are correlated
        tau2 = between_variance(ref_counts, ref_rows)
        p = min(max(ref_rate, 0.5 / max(n_ref, 1.0)), 1.0)  # the null's rate (never exactly 0)
        variance = p * (1 - p) * (1 / max(n, 1.0) + 1 / max(n_ref, 1.0))
        variance += tau2 * float(np.sum(rows**2)) / max(n, 1.0) ** 2
        variance += tau2 * float(np.sum(ref_rows**2)) / max(n_ref, 1.0) ** 2
        gap = rate - ref_rate
        z = gap / math.sqrt(variance) if variance > 0 else math.copysign(math.inf, gap)
        p_z = float(NormalDist().cdf(-z)) if math.isfinite(z) else float(z < 0)
        p_sign, p_every = _entity_by_entity(counts, rows, ref_counts, ref_rows, tau2)
        p_value = max(p_value, min(1.0, 3 * min(p_z, p_sign, p_every)))
    return UnitEvidence(rate, ref_rate, *shown, high, p_value)


def _entity_by_entity(
    counts: Array, rows: Array, ref_counts: Array, ref_rows: Array, tau2: float
) -> tuple[float, float]:
    """How many of the batch's entities sit above the reference's rate, and how many show the
    anomaly in every row (of 3 or more), each against the chance an entity of the same number of
    rows has of doing so in the reference's world (`EntityChances`): one-sided p-values.

    The reference's rate and spread are estimates: the count above is held against its expectation
    with the variance the rate's own error adds (the delta method), under the spread and its upper
    95% bound; the rarer count in every row against the largest chance under the rate's upper 95%
    bound and either spread."""
    n_ref = max(float(ref_rows.sum()), 1.0)
    rate = float(ref_counts.sum()) / n_ref
    entities = int(np.count_nonzero(ref_rows))
    present, full = rows > 0, rows >= 3
    above = int(np.count_nonzero(counts[present] > rate * rows[present]))
    every = int(np.count_nonzero(counts[full] >= rows[full]))
    p_sign, p_every = 0.0, 0.0 if every else 1.0
    for spread in (tau2, between_variance(ref_counts, ref_rows, upper=0.95)):
        p = min(max(rate, 0.5 / n_ref), 1.0)
        step = math.sqrt(p * (1 - p) / n_ref + spread * float(np.sum(ref_rows**2)) / n_ref**2)
        chances = EntityChances(rate, spread, entities)
        around = [
            EntityChances(r, spread, entities).above(rows[present], rate)
            for r in (max(rate - step, 0.0), min(rate + step, 1.0))
        ]
        p_sign = max(p_sign, count_beyond(above, *chances.above(rows[present], rate), around))
        if every:
            highest = EntityChances(min(rate + 1.645 * step, 1.0), spread, entities)
            p_every = max(
                p_every,
                poisson_binomial_sf(every, *chances.every(rows[full])),
                poisson_binomial_sf(every, *highest.every(rows[full])),
            )
    return p_sign, p_every


@dataclass(frozen=True)
class EntityChances:
    """The chance that an entity of m rows from the reference's world sits above the reference's
    rate, or shows the anomaly in every row: its count is beta-binomial, the entities' true rates
    spread around `rate` with the between-entity variance `tau2` (binomial when 0). Counted from the
    reference's entities as a share, these chances would ignore size: a 3-row entity at a 20% rate
    is all ones 0.8% of the time, a 60-row one never."""

    rate: float
    tau2: float
    entities: int  # the reference's entities with rows (a floor for the rarest chance)

    def _distribution(self, m: Array):  # type: ignore[no-untyped-def]
        from scipy.stats import betabinom, binom

        p = min(max(self.rate, 0.0), 1.0)
        spread = p * (1 - p)
        if spread <= 0 or self.tau2 <= 0:
            return binom(m, p)
        total = max(spread / self.tau2 - 1, 1e-3)  # alpha + beta of the entities' rates
        return betabinom(m, p * total, (1 - p) * total)

    def above(self, rows: Array, threshold: float) -> tuple[Array, Array]:
        """How many entities have each distinct size in `rows`, and the chance that an entity of
        that size counts more than `threshold` (a rate) of its rows."""
        sizes, many = np.unique(np.asarray(rows, dtype=np.int64), return_counts=True)
        chance = self._distribution(sizes).sf(np.floor(threshold * sizes))
        return many, np.clip(np.nan_to_num(chance), 0.0, 1.0)

    def every(self, rows: Array) -> tuple[Array, Array]:
        sizes, many = np.unique(np.asarray(rows, dtype=np.int64), return_counts=True)
        chance = np.nan_to_num(self._distribution(sizes).pmf(sizes))
        floor = 0.5 / (self.entities + 1.0)  # never a chance of 0 from a finite reference
        return many, np.clip(chance, floor, 1.0)


def count_beyond(k: int, many: Array, chances: Array, around: list[tuple[Array, Array]]) -> float:
    """One-sided p-value of `k` or more successes over `many[i]` trials at `chances[i]` each, the
    chances themselves uncertain: `around` holds them one standard error of the underlying rate
    below and above, whose spread of the expected count adds to the variance (the delta method;
    normal, with a continuity correction)."""
    expected = float(np.sum(many * chances))
    variance = float(np.sum(many * chances * (1 - chances)))
    ends = [float(np.sum(m * c)) for m, c in around]
    variance += ((ends[1] - ends[0]) / 2) ** 2
    if variance <= 0:
        return 0.0 if k > expected else 1.0
    return float(NormalDist().cdf(-(k - 0.5 - expected) / math.sqrt(variance)))


def poisson_binomial_sf(k: int, many: Array, chances: Array) -> float:
    """P(at least `k` successes) over `many[i]` trials at `chances[i]` each (a sum of binomials:
    their pmfs convolved, each cut where its tail is negligible)."""
    from scipy.signal import fftconvolve
    from scipy.stats import binom

    if k <= 0:
        return 1.0
    pmf = np.ones(1)
    for n, q in zip(np.asarray(many, dtype=np.int64), np.asarray(chances, dtype=float), strict=True):
        top = int(min(n, math.ceil(n * q + 12 * math.sqrt(n * q * (1 - q)) + 12)))
        part = binom.pmf(np.arange(top + 1), n, q)
        pmf = np.clip(
            fftconvolve(pmf, part) if len(pmf) * len(part) > 250_000 else np.convolve(pmf, part), 0, None
        )
    return float(min(1.0, max(0.0, pmf[k:].sum()))) if k < len(pmf) else 0.0


def batch_stretch(rows: int, length: int, units: Units, min_rows: int) -> int:
    """Rows of the reference's stretches a batch of `rows` rows is held against: as many rows as the
    batch between entities (groups of consecutive entities); along time or order, as many as the
    batch or the measured correlation `length`, whichever is shorter (a batch longer than the
    correlation may still sit in one spell of the world), never fewer than `min_rows`."""
    if units.kind == "cluster":
        return max(min_rows, rows)
    return max(min_rows, min(rows, length))


def only(values: Array, index: Array | None) -> Array:
    """`values` as floats, nan outside the rows at `index` (a segment's or a slice's; None: all)."""
    x = np.asarray(values, dtype=float)
    if index is None:
        return x
    out = np.full(len(x), np.nan)
    out[index] = x[index]
    return out


def per_unit(hits: Array, units: Units) -> tuple[Array, Array]:
    x = np.asarray(hits, dtype=float)
    present = ~np.isnan(x)
    rows = np.bincount(units.ids[present], minlength=units.count).astype(float)
    counts = np.bincount(units.ids[present], weights=x[present], minlength=units.count)
    return counts, rows


def _highest_stretch(counts: Array, rows: Array, stretch_rows: int) -> tuple[float, float]:
    """The (count, rows) of the stretch with the highest rate (its 90% lower bound, so a stretch
    high by noise does not win), among stretches of consecutive units holding `stretch_rows` counted
    rows or more, sliding one unit at a time (units are never split). (0, 0): no full stretch."""
    from scipy.stats import beta

    cum_rows = np.concatenate([[0.0], np.cumsum(rows, dtype=float)])
    cum_counts = np.concatenate([[0.0], np.cumsum(counts, dtype=float)])
    starts = np.arange(len(rows))
    ends = np.searchsorted(cum_rows, cum_rows[starts] + max(stretch_rows, 1), side="left")
    full = ends < len(cum_rows)
    if not full.any():
        return 0.0, 0.0
    starts, ends = starts[full], ends[full]
    k = cum_counts[ends] - cum_counts[starts]
    m = cum_rows[ends] - cum_rows[starts]
    lower = np.where(k > 0, beta.ppf(0.10, np.maximum(k, 1e-9), m - k + 1), 0.0)
    lower[k >= m] = 2.0  # a stretch that showed it in every row wins
    best = int(np.argmax(lower))
    return float(k[best]), float(m[best])


def _highest_window(ordered: Array, width: int) -> tuple[float, float]:
    """The (count, width) of the `width` consecutive values (0/1) with the highest rate, sliding one
    value at a time; a window with every value 1 wins. (0, 0): fewer values than the width."""
    if len(ordered) < width or width <= 0:
        return 0.0, 0.0
    cumulative = np.concatenate([[0.0], np.cumsum(ordered)])
    counts = cumulative[width:] - cumulative[:-width]
    return float(counts.max()), float(width)


def _lower(count: float, rows: float) -> float:
    from scipy.stats import beta

    return float(beta.ppf(0.10, count, rows - count + 1)) if count > 0 and rows > 0 else 0.0


def _beyond(count: float, rows: float, stretch_count: float, stretch_rows: float) -> float:
    """One-sided p-value that `count` of `rows` is a higher rate than the stretch showed: binomial
    against the stretch's 90% lower bound; 1 when the stretch showed the anomaly in every row (the
    reference did it all by nature for a while: a batch that does it too is no evidence of a
    fault); 0 when there is no full stretch (this test then adds nothing to the row-level one)."""
    from scipy.stats import binom

    if stretch_rows <= 0:
        return 0.0
    if stretch_count >= stretch_rows:
        return 1.0
    return float(binom.sf(round(count) - 1, round(rows), _lower(stretch_count, stretch_rows)))


@dataclass(frozen=True)
class MeanDifference:
    """The difference of two means (batch minus reference) with its standard error in units."""

    difference: float
    standard_error: float
    units: int  # the batch's units with values
    reference_units: int
    freedom: int  # degrees of freedom of the standard error

    @property
    def p_value(self) -> float:
        """Two-sided, Student t (a standard error from a few units is itself noisy; from many it is
        the normal's)."""
        from scipy.stats import t

        if self.standard_error <= 0:
            return 0.0 if self.difference != 0 else 1.0
        if not math.isfinite(self.standard_error):
            return 1.0
        return float(2 * t.sf(abs(self.difference) / self.standard_error, max(self.freedom, 1)))


def mean_difference(
    values: Array, units: Units, reference_values: Array, reference_units: Units
) -> MeanDifference:
    """Batch mean minus reference mean of `values` (nan: not counted), each mean's variance from its
    units (rows inside a unit are not independent evidence).

    Units of one length (time blocks, runs) vary alike in both tables: their deviations are pooled
    (one variance, as many degrees of freedom as units in both less two), so a batch as long as two
    units is judged against how far the reference's units move. Entities of any size (and rows)
    each table on its own (the cluster-robust estimator), with the fewer units' degrees of freedom."""
    means, squares, totals, counts = [], [], [], []
    for x, u in ((values, units), (reference_values, reference_units)):
        x = np.asarray(x, dtype=float)
        present = ~np.isnan(x)
        rows = np.bincount(u.ids[present], minlength=u.count).astype(float)
        sums = np.bincount(u.ids[present], weights=x[present], minlength=u.count)
        total = rows.sum()
        mean = sums.sum() / total if total else 0.0
        used = rows > 0
        means.append(mean)
        squares.append(float(np.sum((sums[used] - mean * rows[used]) ** 2)))
        totals.append(max(total, 1.0))
        counts.append(int(used.sum()))
    difference = float(means[0] - means[1])
    if units.kind in ("time block", "run") and reference_units.kind == units.kind:
        freedom = counts[0] + counts[1] - 2
        pooled = sum(squares) / freedom if freedom > 0 else math.inf
        variance = pooled * (counts[0] / totals[0] ** 2 + counts[1] / totals[1] ** 2)
        return MeanDifference(difference, math.sqrt(variance), counts[0], counts[1], freedom)
    variance = sum(
        q / t**2 * m / (m - 1) if m > 1 else math.inf for q, t, m in zip(squares, totals, counts, strict=True)
    )
    return MeanDifference(difference, math.sqrt(variance), counts[0], counts[1], min(counts) - 1)
