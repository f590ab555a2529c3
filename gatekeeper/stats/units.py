"""What one independent unit of evidence is (pure numpy); tests counted in units: `in_units`.

Rows are independent evidence only when nothing ties them together. Three things do:

- an entity (`cluster_column`): a customer's rows share the customer; a unit is one entity;
- time (`time_column`): rows near in time share the world of that moment; a unit is a block of
  consecutive time steps (never splitting a step), as long as the rows stay correlated;
- file order: rows that arrive in order (no time column named) and whose values are correlated
  along it; a unit is a run of consecutive rows as long as that correlation.

How long "correlated" lasts is measured, not assumed (`block_length`): twice the integrated
autocorrelation time of the signal along the order (strong, short correlation), or twice the block
size at which the variance of block means reaches half its plateau (weak correlation that lasts).
Shuffled rows measure 1: they are their own units and every check keeps its row-level test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np

from gatekeeper.metrics import Array

if TYPE_CHECKING:
    import pandas as pd

UnitKind = Literal["row", "cluster", "time block", "run"]
DEPENDENT = 1.5  # a design effect at least this large: consecutive rows are not independent
NOISE = 0.05  # autocorrelations below this (or below 3/sqrt(n)) are noise
MIN_UNITS = 3  # a finding in dependent rows must hold in at least this many separate units
# a bootstrap interval over whole units (entities, time blocks, runs) needs at least this many: with
# fewer the resampled means have too few values to spread (one unit: an interval of zero width)
MIN_INTERVAL_UNITS = 10
FEW_LAGS = 9  # autocorrelations taken directly (a product each) before the whole function by FFT


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
    if n < 8 or np.ptp(x) == 0:  # a constant correlates with nothing
        return 1.0
    x = x - x.mean()
    variance = float(x @ x)
    if variance <= 0:
        return 1.0
    cutoff = max(NOISE, 3 / math.sqrt(n))
    lags = min(max_lag or n // 4, n)
    first = [float(x[: n - k] @ x[k:]) / variance for k in range(1, min(FEW_LAGS, lags))]
    if any(a < cutoff for a in first):  # the usual case, shuffled rows above all: no transform needed
        stop = next(k for k, a in enumerate(first) if a < cutoff)
        return float(1 + 2 * sum(first[:stop]))
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[:lags] / variance
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
    x = np.asarray(signal, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    tau = integrated_time(x)
    length = math.ceil(2 * tau) if tau >= DEPENDENT else 1
    variance = float(np.var(x))
    if n < 64 or variance <= 0 or np.ptp(x) == 0:
        return length
    sizes = [2 << k for k in range(max((n // 32).bit_length() - 1, 0))]  # 2, 4, ...: >= 32 blocks each
    measured = []  # (size, blocks, variance ratio) where the ratio is large enough to matter
    for size in sizes:
        m = n // size
        means = x[: m * size].reshape(m, size).mean(axis=1)
        ratio = float(np.var(means, ddof=1)) * size / variance
        if ratio >= DEPENDENT:
            measured.append((size, m, ratio))
    ratios = []
    if measured:  # only then is chance asked about (scipy loads on first need: one call for all)
        from scipy.stats import chi2

        dof = np.array([m - 1 for _, m, _ in measured])
        chance = np.atleast_1d(chi2.ppf(1 - 1e-4, dof) / dof).tolist()
        ratios = [(size, r) for (size, _, r), bar in zip(measured, chance, strict=True) if r > bar]
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
class Layout:
    """How a table's rows are tied together: an entity per row, a time per row, or only their order."""

    rows: int
    clusters: Array | None = None
    times: Array | None = None  # sortable numbers (nan: unknown, sorted last)

    @cached_property
    def order(self) -> Array | None:
        """The rows in time order (None: file order). Sorted once per layout, read-only."""
        return None if self.times is None else _read_only(np.argsort(self.times, kind="stable"))

    @cached_property
    def sequence(self) -> Array:
        """The rows in time order, else in the file's order (read-only)."""
        order = self.order
        return _read_only(np.arange(self.rows)) if order is None else order

    @cached_property
    def position(self) -> Array:
        """Each row's place in `sequence` (read-only)."""
        if self.order is None:
            return self.sequence
        position = np.empty(self.rows, dtype=np.intp)
        position[self.order] = np.arange(self.rows)
        return _read_only(position)

    def units(self, length: int) -> Units:
        return find_units(self.rows, clusters=self.clusters, times=self.times, length=length)


def _read_only(values: Array) -> Array:
    values.flags.writeable = False  # shared by every caller of a layout: none may change it
    return values


def layout_of(frame: pd.DataFrame, cluster_column: str | None, time_column: str | None) -> Layout:
    """A table's layout from its entity or time column (when it has them)."""
    import pandas as pd

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
