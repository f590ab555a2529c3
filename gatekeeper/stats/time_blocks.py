"""Evaluation rows in blocks of time (or of the file's order) where the two models' advantage moves
with the world of the moment (pure numpy): the paired bootstrap then resamples whole blocks
(`gatekeeper.stats.bootstrap.cluster_means`), so neighbouring rows count as one piece of evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from gatekeeper.metrics import Array, estimate
from gatekeeper.stats.rows import PairedRows

# The cluster bootstrap draws a weight per block and resample (1M rows in blocks of 2: 12 s a metric
# on 2 cores); past this many blocks they are made longer (at 1M rows, 200 rows or more), which a block
# bootstrap allows: with this many blocks the interval hardly moves (tested), and a metric costs ~0.2 s.
MAX_TIME_BLOCKS = 5_000


def in_time_blocks(
    rows: PairedRows, times: Array | None, name: str, groups: Sequence[Array] = ()
) -> tuple[PairedRows, int]:
    """`rows` resampled in blocks of consecutive time when the primary metric's paired delta stays
    correlated along it, and the block length in rows (1: rows unchanged). `times`: a sortable number
    per row (inf where unknown); None: the rows' own order (the file's), read as time as the data
    checks read it when no time column is named.

    Where the two models' advantage moves with the world of the moment (a regime both miss, each in
    its own way), neighbouring rows carry one piece of evidence, and resampling them one by one makes
    the interval several times too narrow (benchmarks/time_ordered_comparison.py: 20% coverage for a
    nominal 95%). The block length is measured on the delta's per-row influence in time order, as
    the data checks measure theirs (`block_length`), after taking out its mean within each class (or
    decile of a numeric target) crossed with each of `groups` (codes 0, 1, ... per row: the
    configured segments), so a file sorted by label or by segment, whose rows are independent within
    each, is not read as a lasting regime. A block holds whole time steps (rows of one time are never
    split), and rows of one time are ordered by their content, not the file's order, so the same rows
    in any file order get the same blocks. Every segment's rows are resampled by the blocks they fall
    in. Rows that already carry clusters (entities) or have no champion are left as they are."""
    if rows.clusters is not None or rows.champion is None or rows.n < 64:
        return rows, 1
    from gatekeeper.stats.units import block_length

    cand, champ = estimate(name, rows.targets, rows.candidate), estimate(name, rows.targets, rows.champion)
    if cand.influence is None or champ.influence is None:
        return rows, 1  # undefined on these rows: the comparison says so itself
    rows.measured[name] = (cand, champ)  # the overall comparison's own estimates: not computed twice
    labels = _label_groups(rows)
    cells = [labels * (int(codes.max()) + 1) + codes for codes in groups] if len(groups) else [labels]
    signal = _within(cand.influence - champ.influence, cells)  # less each label x segment's level
    starts: Array | None = None  # where a time step begins, in time order (None: every row)
    if times is None:
        order = None
    else:
        order = np.argsort(times, kind="stable")
        ordered = np.asarray(times)[order]
        starts = np.ones(rows.n, dtype=bool)
        starts[1:] = ordered[1:] != ordered[:-1]
        if starts.all():
            starts = None
        else:  # rows share times: order each time's rows by content, not by the file
            import pandas as pd

            content = pd.util.hash_array(np.asarray(rows.y, dtype=float))  # a row's label and both outputs
            for outputs in (rows.candidate, rows.champion):
                column = outputs if outputs.ndim == 1 else outputs[:, -1]
                hashed = pd.util.hash_array(np.ascontiguousarray(column, dtype=float))
                content = content * np.uint64(31) ^ hashed
            order = np.lexsort((content, times))  # by time; within one time, by content (a shuffle of it)
    length = block_length(signal if order is None else signal[order])
    if length <= 1:
        return rows, 1
    length = max(length, -(-rows.n // MAX_TIME_BLOCKS))  # longer blocks, still many: bounded cost
    place = np.arange(rows.n)
    # each row's time step's first row (every row its own step when times are unique)
    first = place if starts is None else np.maximum.accumulate(np.where(starts, place, 0))
    blocks = np.empty(rows.n, dtype=np.int64)
    if order is None:
        blocks[:] = first // length
        unit = f"runs of {length} consecutive rows (the file's order)"
    else:
        blocks[order] = first // length
        unit = f"time blocks of {'' if starts is None else 'about '}{length} rows"
    return replace(rows, clusters=blocks, unit=unit), length


def _label_groups(rows: PairedRows) -> Array:
    """A group per row by its label: the class, or the decile of a numeric target."""
    if rows.classes:
        return np.asarray(rows.y)
    edges = np.quantile(rows.y, np.linspace(0.1, 0.9, 9))
    return np.searchsorted(edges, rows.y)


def _within(signal: Array, groups: Sequence[Array]) -> Array:
    """`signal` less its mean within each group of each grouping in turn (codes 0, 1, ... per row)."""
    out = np.asarray(signal, dtype=float)
    for codes in groups:
        sizes = np.bincount(codes)
        means = np.bincount(codes, weights=out) / np.maximum(sizes, 1)
        out = out - means[codes]
    return out
