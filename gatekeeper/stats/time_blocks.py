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
    the data checks measure theirs (`block_length`). In the file's order, its mean within each class
    (or decile of a numeric target) crossed with each of `groups` (codes 0, 1, ... per row: the
    configured segments and key segments) is taken out first, so a file sorted by label or by
    segment, whose rows are independent within each, is not read as a lasting regime; and a file
    sorted by a numeric target or by a model's output (within groups too) is not read as time at all
    (`_sorted_by_value`). Along a time column nothing is taken out: there the order is time itself.
    A block holds whole time steps (rows of one time are never split), and rows of one time are
    ordered by their content, not the file's order, so the same rows in any file order get the same
    blocks. Every segment's rows are resampled by the blocks they fall in. Rows that already carry
    clusters (entities) or have no champion are left as they are."""
    if rows.clusters is not None or rows.champion is None or rows.n < 64:
        return rows, 1
    from gatekeeper.stats.units import block_length

    cand, champ = estimate(name, rows.targets, rows.candidate), estimate(name, rows.targets, rows.champion)
    if cand.influence is None or champ.influence is None:
        return rows, 1  # undefined on these rows: the comparison says so itself
    rows.measured[name] = (cand, champ)  # the overall comparison's own estimates: not computed twice
    signal = cand.influence - champ.influence
    starts: Array | None = None  # where a time step begins, in time order (None: every row)
    order: Array | None = None  # the rows in time order (None: the file's order)
    if times is None:
        if _sorted_by_value(rows):
            return rows, 1  # a file sorted by the target or a model's score: its order is not time
        labels = _label_groups(rows)
        cells = [labels * (int(codes.max()) + 1) + codes for codes in groups] if len(groups) else [labels]
        signal = _within(signal, cells)  # less each label x segment's level: a sorted file's steps
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


SORTED = 0.95  # of the steps between neighbouring rows that change a value, this share one way: sorted


def _sorted_by_value(rows: PairedRows) -> bool:
    """Whether the rows are in the order of a numeric target or of a model's output (within each
    group of rows, as a file sorted by segment and then by score): nearly every change from one row
    to the next goes one way, where rows in time order go up as often as down."""
    columns = [] if rows.classes else [rows.y]
    for outputs in (rows.candidate, rows.champion):
        assert outputs is not None
        if outputs.ndim == 1 or outputs.shape[1] == 2:  # one column tells: two classes' sum to 1
            columns.append(outputs if outputs.ndim == 1 else outputs[:, -1])
        else:
            columns += list(np.asarray(outputs).T)
    for column in columns:
        steps = np.diff(np.asarray(column, dtype=float))
        up, down = int((steps > 0).sum()), int((steps < 0).sum())
        if up + down and max(up, down) >= SORTED * (up + down):
            return True
    return False


def _label_groups(rows: PairedRows) -> Array:
    """A group per row by its label: the class, or the decile of a numeric target (missing: its own)."""
    if rows.classes:
        return np.asarray(rows.y)
    y = np.asarray(rows.y, dtype=float)
    known = np.isfinite(y)
    if not known.any():
        return np.zeros(len(y), dtype=np.int64)
    edges = np.quantile(y[known], np.linspace(0.1, 0.9, 9))
    return np.where(known, np.searchsorted(edges, np.where(known, y, 0.0)), len(edges) + 1)


def _within(signal: Array, groups: Sequence[Array]) -> Array:
    """`signal` less its mean within each group of each grouping in turn (codes 0, 1, ... per row);
    values that are not finite stay as they are and count in no mean."""
    out = np.asarray(signal, dtype=float)
    finite = np.isfinite(out)
    for codes in groups:
        sizes = np.bincount(codes, weights=finite.astype(float))
        means = np.bincount(codes, weights=np.where(finite, out, 0.0)) / np.maximum(sizes, 1)
        out = np.where(finite, out - means[codes], out)
    return out
