"""What one independent unit of evidence is, and rates compared in those units (pure numpy).

Rows are independent evidence only when nothing ties them together. Three things do:

- an entity (`cluster_column`): a customer's rows share the customer; a unit is one entity;
- time (`time_column`): rows near in time share the world of that moment; a unit is a block of
  consecutive time steps (never splitting a step), as long as the rows stay correlated;
- file order: rows that arrive in order (no time column named) and whose values are correlated
  along it; a unit is a run of consecutive rows as long as that correlation.

How long "correlated" lasts is measured, not assumed: the integrated autocorrelation time of the
signal along the order (1 + 2 x the sum of its autocorrelations until they fall below noise), which
is also the design effect of a mean of consecutive rows. Below `DEPENDENT` (shuffled rows: 1) rows
are their own units and every check keeps its row-level test.

A rate compared in units (`unit_test`): between entities, against the reference's rate with the rows
of an entity correlated; in time and file order, against the highest rate the reference showed in
any stretch of it, since the world moves: a slice whose labels swing from 30% to 80% between
months by nature is not broken when a new month shows 85%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

from gatekeeper.metrics import Array

UnitKind = Literal["row", "cluster", "time block", "run"]
DEPENDENT = 1.5  # a design effect at least this large: consecutive rows are not independent
NOISE = 0.05  # autocorrelations below this (or below 3/sqrt(n)) are noise
MIN_UNITS = 3  # a finding in dependent rows must hold in at least this many separate units


@dataclass(frozen=True)
class Units:
    """A unit id per row (0 .. count-1) and what a unit is."""

    ids: Array
    count: int
    kind: UnitKind
    length: int = 1  # rows per time block or run (the measured correlation length)

    @property
    def independent(self) -> bool:
        return self.kind == "row"


def integrated_time(signal: Array, max_lag: int | None = None) -> float:
    """1 + 2 x the sum of the signal's autocorrelations along its order, up to the first lag where
    they fall below noise: the design effect of a mean of consecutive values (1 for shuffled rows)."""
    x = np.asarray(signal, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n < 8:
        return 1.0
    x = x - x.mean()
    variance = float(x @ x)
    if variance <= 0:
        return 1.0
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag or n // 4] / variance
    cutoff = max(NOISE, 3 / math.sqrt(n))
    below = np.flatnonzero(acf[1:] < cutoff)
    stop = int(below[0]) + 1 if len(below) else len(acf)
    return float(1 + 2 * acf[1:stop].sum())


def block_length(signal: Array) -> int:
    """Rows a unit of consecutive rows must span to be nearly independent of its neighbours
    (1: the rows are independent). Two measures, the larger wins: twice the integrated
    autocorrelation time (strong, short correlation), and twice the block size at which the
    variance of block means reaches half its plateau (weak correlation that lasts: a regime that
    moves a rate by a few points for thousands of rows), counting only block sizes whose variance
    ratio is beyond chance (chi-square, p < 1e-4) with 32 or more blocks."""
    from scipy.stats import chi2

    x = np.asarray(signal, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    tau = integrated_time(x)
    length = math.ceil(2 * tau) if tau >= DEPENDENT else 1
    variance = float(np.var(x))
    if n < 64 or variance <= 0:
        return length
    ratios = []
    size = 2
    while n // size >= 32:
        m = n // size
        means = x[: m * size].reshape(m, size).mean(axis=1)
        ratio = float(np.var(means, ddof=1)) * size / variance
        if ratio > chi2.ppf(1 - 1e-4, m - 1) / (m - 1) and ratio >= DEPENDENT:
            ratios.append((size, ratio))
        size *= 2
    if ratios:
        plateau = max(r for _, r in ratios)
        length = max(length, 2 * min(b for b, r in ratios if r >= plateau / 2))
    return length


def find_units(
    rows: int,
    *,
    clusters: Array | None = None,
    times: Array | None = None,
    length: int = 1,
) -> Units:
    """The independent units of a table whose rows are in the order given: entities when `clusters`
    is given, else blocks of consecutive time steps when `times` is, else runs of rows when the
    measured `length` (`block_length`) says consecutive rows are dependent, else rows.

    A block or run spans `length` rows; a time block never splits one time step.
    """
    if clusters is not None:
        codes, uniques = _factorize(clusters)
        return Units(codes, len(uniques), "cluster")
    length = max(1, length)
    if times is not None:
        order = np.argsort(times, kind="stable")
        sorted_times = np.asarray(times)[order]
        new_step = np.ones(rows, dtype=bool)
        new_step[1:] = sorted_times[1:] != sorted_times[:-1]
        # a step's block is decided by the rows before its first row
        first_row = np.maximum.accumulate(np.where(new_step, np.arange(rows), 0))
        block = first_row // length
        ids = np.empty(rows, dtype=np.int64)
        ids[order] = np.unique(block, return_inverse=True)[1]
        return Units(ids, int(ids.max()) + 1 if rows else 0, "time block", length)
    if length == 1:
        return Units(np.arange(rows, dtype=np.int64), rows, "row")
    ids = np.arange(rows, dtype=np.int64) // length
    return Units(ids, int(ids[-1]) + 1 if rows else 0, "run", length)


def _factorize(values: Array) -> tuple[Array, Array]:
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(values), use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    missing = codes < 0  # rows with no entity stand alone
    if missing.any():
        codes[missing] = len(uniques) + np.arange(int(missing.sum()))
    return codes, np.arange(int(codes.max()) + 1 if len(codes) else 0)


@dataclass(frozen=True)
class UnitEvidence:
    """A rate in a slice, counted per unit: the test against the reference's rate."""

    rate: float
    reference_rate: float
    units: int  # the batch's units with rows in the slice
    units_showing: int  # of them, the units where the slice shows the anomaly at all
    natural_high: float  # the highest rate a stretch of the reference showed (slice or whole table)
    p_value: float


def between_variance(counts: Array, rows: Array) -> float:
    """The variance of the true rate between units beyond their binomial noise (moments; >= 0)."""
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
      entity by entity (how many of the batch's entities sit above the reference's rate, against the
      share of the reference's entities that do: 36 entities all of one class where half of the
      reference's were mixed); the smaller of those two, doubled, and the stretches' test must agree.
    """
    from scipy.stats import binom

    counts, rows = _per_unit(hits, units)
    ref_counts, ref_rows = _per_unit(reference_hits, reference_units)
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
            per_group.append(_per_unit(whole_reference, reference_units))
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
            whole = _per_unit(whole_reference, reference_units)
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
        # and entity by entity: how many of the batch's entities sit above the reference's rate,
        # against the share of the reference's entities that do (a sign test; Bonferroni over two)
        above = np.count_nonzero(counts[rows > 0] > ref_rate * rows[rows > 0])
        share = float(np.mean(ref_counts[ref_rows > 0] > ref_rate * ref_rows[ref_rows > 0])) if n_ref else 1.0
        p_sign = float(binom.sf(above - 1, shown[0], share)) if share < 1 else 1.0
        p_value = max(p_value, min(1.0, 2 * min(p_z, p_sign)))
    return UnitEvidence(rate, ref_rate, *shown, high, p_value)


def _per_unit(hits: Array, units: Units) -> tuple[Array, Array]:
    x = np.asarray(hits, dtype=float)
    present = ~np.isnan(x)
    rows = np.bincount(units.ids[present], minlength=units.count).astype(float)
    counts = np.bincount(units.ids[present], weights=x[present], minlength=units.count)
    return counts, rows


def _highest_stretch(counts: Array, rows: Array, stretch_rows: int) -> tuple[float, float]:
    """The (count, rows) of the stretch with the highest rate (its 90% lower bound, so a stretch
    high by noise does not win), among stretches of consecutive units holding `stretch_rows` counted
    rows each (units are never split; a short last stretch is dropped). (0, 0): no full stretch."""
    from scipy.stats import beta

    stretch = ((np.cumsum(rows) - rows) // max(stretch_rows, 1)).astype(np.int64)
    k = np.bincount(stretch, weights=counts)
    m = np.bincount(stretch, weights=rows)
    full = m >= stretch_rows
    if not full.any():
        return 0.0, 0.0
    k, m = k[full], m[full]
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
class Layout:
    """How a table's rows are tied together: an entity per row, a time per row, or only their order."""

    rows: int
    clusters: Array | None = None
    times: Array | None = None  # sortable numbers (nan: unknown, sorted last)

    @property
    def order(self) -> Array | None:
        """The rows in time order (None: file order)."""
        return None if self.times is None else np.argsort(self.times, kind="stable")

    @property
    def sequence(self) -> Array:
        """The rows in time order, else in the file's order."""
        order = self.order
        return np.arange(self.rows) if order is None else order

    def units(self, length: int) -> Units:
        return find_units(self.rows, clusters=self.clusters, times=self.times, length=length)


def layout_of(frame: object, cluster_column: str | None, time_column: str | None) -> Layout:
    """A table's layout from its entity or time column (when it has them)."""
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    clusters = frame[cluster_column].to_numpy() if cluster_column and cluster_column in frame else None
    times = None
    if time_column and time_column in frame and clusters is None:
        column = frame[time_column]
        if not pd.api.types.is_numeric_dtype(column):
            column = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
            numbers = column.astype("int64").to_numpy(dtype=float)
            numbers[column.isna().to_numpy()] = np.nan
        else:
            numbers = column.to_numpy(dtype=float)
        times = np.where(np.isnan(numbers), np.inf, numbers)
    return Layout(len(frame), clusters, times)


def reference_length(signal: Array, reference: Layout, batch: Layout, subset: bool = False) -> int:
    """The block length (rows of the table) of one signal of the reference, along time or file order:
    1 when rows are independent or the tables are cut by entity. With `subset`, the signal is nan
    outside the rows it covers (a slice's): its length is measured among those rows and scaled to
    the table's (a slice holding one row in ten and correlated over 30 of its rows spans 300)."""
    if reference.clusters is not None and batch.clusters is not None:
        return 1
    ordered = np.asarray(signal, dtype=float)[reference.sequence]
    present = ~np.isnan(ordered)
    length = block_length(ordered[present])
    if subset and length > 1:
        length = math.ceil(length * reference.rows / max(int(present.sum()), 1))
    return length


def paired_units(length: int, reference: Layout, batch: Layout) -> tuple[Units, Units]:
    """The reference's and the batch's units for evidence whose block length is `length` rows
    (entities when both tables name them)."""
    if reference.clusters is not None and batch.clusters is not None:
        return reference.units(1), batch.units(1)
    return reference.units(length), batch.units(length)
