"""Broken features in slices nobody configured: one vectorised search (pure pandas/numpy/scipy).

A feature broken for the records of one source system hides in every configured segment. The
search cuts every column the batch shares with the reference (not only features: a `source`
column the model never sees is exactly where pipelines break) into slices: each categorical
value with enough rows, each numeric column's reference quantile bins, the complement of each
categorical value (`C != v`), and the two-way intersections of the columns with few slices.

Per feature, each anomaly is a sparse 0/1 column over the rows: missing, outside the
reference's range (with the same margin as the per-segment checks), a category the reference
never had, and "equals v" for the few values the batch has far more of than the reference (the
only values a slice can have become constant at). Each slice axis is one sparse product of its
row codes with those columns, for the batch and the reference: counts per slice for every
feature at once, no Python loop over slices.

A slice is flagged when, in both tables, it has `data_checks.min_rows` rows, the change passes
the same effect floor as a configured segment, the slice's rate exceeds the rest of the batch's
by at least `CONCENTRATED` of that change (a new month's indicator values, in every row of the
batch, are the batch's change, not a slice's), and a one-sided binomial test against the
reference slice's rate (its 95% upper bound) survives Holm's correction over every test the
search made, at `data_checks.slice_alpha`. Of the slices that show one fault, the report names
the one whose rows best match the fault's excess rows (their overlap, Jaccard's index, at least
`EXPLAINS`; the fewest conditions and rows on ties), and lists the slices that are the same rows
under other names with it; a fault spread over several slices is named by the three that hold
most of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd

from gatekeeper.config import DataChecks
from gatekeeper.data.checks import MIN_DISTINCT, FeatureProfile, feature_profile, is_numeric
from gatekeeper.data.slice_axes import Axis, axes
from gatekeeper.metrics import Array
from gatekeeper.stats.inference import adjust
from gatekeeper.stats.units import Layout

Kind = Literal["null_rate", "out_of_range", "new_categories", "constant", "label_rate", "label_tail"]
PAIR_LEVELS = 16  # columns with at most this many slices are intersected pairwise
MAX_CONSTANT_VALUES = 3  # values per feature a slice may have become constant at
MAX_CLASSES = 20  # a target with more values is a number: searched by its tails, range and values
TAIL = 0.1  # a number's labels: the share of the reference below (above) each tail's cut
CONCENTRATED = 0.5  # of a slice's change, the share it must exceed the rest of the batch's rate by
EXPLAINS = 0.5  # a slice explains a fault when its overlap with the fault's rows (Jaccard) is this


@dataclass(frozen=True)
class Anomaly:
    """One sparse 0/1 column: rows where `feature` shows `kind` (for `constant`: equals `value`)."""

    kind: Kind
    feature: str
    value: Any = None


@dataclass
class _Columns:
    anomalies: list[Anomaly] = field(default_factory=list)
    null_of: list[int] = field(default_factory=list)  # the feature's null column, for denominators
    reference: list[Array] = field(default_factory=list)
    batch: list[Array] = field(default_factory=list)

    def add(self, anomaly: Anomaly, null_column: int, ref_rows: Array, batch_rows: Array) -> int:
        self.anomalies.append(anomaly)
        self.null_of.append(null_column)
        self.reference.append(np.flatnonzero(ref_rows))
        self.batch.append(np.flatnonzero(batch_rows))
        return len(self.anomalies) - 1


@dataclass(frozen=True)
class UnitCount:
    """How many independent units a slice finding rests on."""

    kind: str  # "cluster", "time block", "run"
    units: int  # the batch's units with rows in the slice
    showing: int  # of them, the units where the slice shows the anomaly
    natural_high: float  # time and order: the highest rate a stretch of the reference showed there


@dataclass(frozen=True)
class SliceFinding:
    anomaly: Anomaly
    conditions: tuple[tuple[int, int, bool], ...]  # (axis, code, negated)
    name: str
    rows: int  # the batch slice's rows (the denominator: present values for all but nulls)
    batch_rate: float
    reference_rate: float
    excess: float  # rows beyond what the reference rate expects
    p_value: float
    units: UnitCount | None = None  # in dependent rows: the units it holds in (None: rows are units)


def anomaly_columns(
    reference: pd.DataFrame,
    batch: pd.DataFrame,
    features: list[str],
    rules: DataChecks,
    target: str | None = None,
    order: Array | None = None,
) -> _Columns:
    """The sparse anomaly columns of every feature, judged against the whole reference, and with
    a classification `target`, one per class: "the label is c" (a slice whose labels collapsed to
    one class, or moved far from the reference's share)."""
    out = _Columns()
    if target is not None and is_numeric(reference[target]) and reference[target].nunique() > MAX_CLASSES:
        # a number's labels: the share in each tail of the reference (a slice whose labels were
        # halved, shifted or scaled lands in one), and its range, values and nulls as a feature's
        y_ref, y_new = reference[target].to_numpy(dtype=float), batch[target].to_numpy(dtype=float)
        low, high = np.nanquantile(y_ref, [TAIL, 1 - TAIL])
        for side, ref_rows, new_rows in (
            ("low", y_ref < low, y_new < low),
            ("high", y_ref > high, y_new > high),
        ):
            column = out.add(Anomaly("label_tail", target, side), -1, ref_rows, new_rows)
            out.null_of[column] = column
        features = [target, *features]
    elif target is not None:
        classes = reference[target].dropna().unique().tolist()
        if 2 <= len(classes) <= MAX_CLASSES:
            for value in sorted(classes, key=str):
                label = value.item() if hasattr(value, "item") else value
                column = out.add(
                    Anomaly("label_rate", target, label),
                    -1,
                    (reference[target] == value).to_numpy(),
                    (batch[target] == value).to_numpy(),
                )
                out.null_of[column] = column  # a share of all the slice's rows
    for feature in features:
        ref, new = reference[feature], batch[feature]
        null = out.add(Anomaly("null_rate", feature), -1, ref.isna().to_numpy(), new.isna().to_numpy())
        out.null_of[null] = null
        profile = feature_profile(ref, rules.range_margin, order)
        if profile.low is not None and profile.high is not None and is_numeric(new):
            x, y = ref.to_numpy(dtype=float), new.to_numpy(dtype=float)
            outside = [(v < profile.low) | (v > profile.high) for v in (x, y)]
            out.add(Anomaly("out_of_range", feature), null, *outside)
        if profile.categories and not is_numeric(new):
            unseen = [
                s.notna().to_numpy() & ~s.astype(str).isin(profile.categories).to_numpy() for s in (ref, new)
            ]
            out.add(Anomaly("new_categories", feature), null, *unseen)
        for value in _constant_values(ref, new, profile, rules.min_rows):
            out.add(
                Anomaly("constant", feature, value),
                null,
                (ref == value).to_numpy(),
                (new == value).to_numpy(),
            )
    return out


def _constant_values(ref: pd.Series, new: pd.Series, profile: FeatureProfile, min_rows: int) -> list[Any]:
    """Values the batch has at least `min_rows` more of than the reference's share predicts.

    A number with few values is a code or a monthly indicator (constant within a month by
    nature): only numbers that took `MIN_DISTINCT` values, and categories, can become constant.
    """
    if profile.distinct < (MIN_DISTINCT if is_numeric(ref) else 2):
        return []
    new_counts = new.value_counts()
    ref_share = ref.value_counts(normalize=True).reindex(new_counts.index, fill_value=0.0)
    excess = (new_counts - ref_share * new_counts.sum()).sort_values(ascending=False)
    return [
        v.item() if hasattr(v, "item") else v for v in excess[excess >= min_rows].index[:MAX_CONSTANT_VALUES]
    ]


@dataclass(frozen=True)
class _Table:
    """One table's anomaly rows, flattened: row index and anomaly column of each anomalous cell."""

    rows: Array
    columns: Array
    width: int

    @classmethod
    def of(cls, columns: list[Array]) -> _Table:
        rows = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
        ids = np.repeat(np.arange(len(columns)), [len(c) for c in columns])
        return cls(rows.astype(np.int64), ids.astype(np.int64), len(columns))

    def counts(self, codes: Array, groups: int) -> tuple[Array, Array]:
        """Rows per slice, and anomalous rows per (slice, anomaly column): two bincounts."""
        rows = np.bincount(codes[codes >= 0], minlength=groups).astype(float)
        g = codes[self.rows]
        keep = g >= 0
        cells = np.bincount(g[keep] * self.width + self.columns[keep], minlength=groups * self.width)
        return rows, cells.reshape(groups, self.width).astype(float)


@dataclass(frozen=True)
class _Cut:
    """A family of slices: one axis, or two axes' intersections (codes a * width_b + b)."""

    axes: tuple[int, ...]
    reference: Array
    batch: Array
    groups: int


def _cuts(found: list[Axis]) -> Iterator[_Cut]:
    """Each axis, then each pair of axes with few slices; a pair's codes are made when it is
    counted (all pairs at once would hold two integer columns per pair in memory)."""
    for i, a in enumerate(found):
        yield _Cut((i,), a.reference, a.batch, len(a.labels))
    small = [i for i, a in enumerate(found) if len(a.labels) <= PAIR_LEVELS]
    for i, j in combinations(small, 2):
        a, b = found[i], found[j]
        width = len(b.labels)

        def pair(x: Array, y: Array, width: int = width) -> Array:
            return np.where((x >= 0) & (y >= 0), x * width + y, -1)

        yield _Cut((i, j), pair(a.reference, b.reference), pair(a.batch, b.batch), len(a.labels) * width)


@dataclass(frozen=True)
class Search:
    findings: list[SliceFinding]
    axes: list[Axis]
    tests: int
    excess: dict[Anomaly, float]  # each anomaly's rows beyond the reference's rate, whole batch


def search(
    reference: pd.DataFrame,
    batch: pd.DataFrame,
    features: list[str],
    columns: list[str],
    rules: DataChecks,
    target: str | None = None,
    layouts: tuple[Layout, Layout] | None = None,
) -> Search:
    """Every slice where a feature (or the labels) shows an anomaly beyond the reference, after
    Holm's correction over all the tests made. With `layouts` (the reference's and the batch's rows
    tied by entity, time or order), each finding is judged again in independent units
    (`gatekeeper.data.evidence`)."""
    found = axes(reference, batch, columns, rules.min_rows, rules.slice_bins)
    order = (
        None
        if layouts is None
        else (layouts[0].order if layouts[0].times is not None else np.arange(len(reference)))
    )
    anomalies = anomaly_columns(reference, batch, features, rules, target, order)
    if not found or not anomalies.anomalies:
        return Search([], found, 0, {})
    ref_table, batch_table = _Table.of(anomalies.reference), _Table.of(anomalies.batch)
    floors = np.array([floor(a.kind, rules) for a in anomalies.anomalies])
    is_null = np.array([a.kind in ("null_rate", "label_rate", "label_tail") for a in anomalies.anomalies])
    is_constant = np.array([a.kind == "constant" for a in anomalies.anomalies])
    is_label = np.array([a.kind in ("label_rate", "label_tail") for a in anomalies.anomalies])
    null_of = np.array(anomalies.null_of)
    ref_all = ref_table.counts(np.zeros(len(reference), dtype=np.int64), 1)
    batch_all = batch_table.counts(np.zeros(len(batch), dtype=np.int64), 1)
    candidates: list[tuple[Array, Array, _Cut, bool, tuple[Array, ...]]] = []
    tests = 0

    def rates(rows: Array, cells: Array) -> tuple[Array, Array]:
        """Each anomaly's denominator (present values, or all rows for nulls) and rate per slice."""
        den = rows[:, None] - np.where(is_null, 0.0, cells[:, null_of])
        with np.errstate(invalid="ignore", divide="ignore"):
            return den, cells / den

    def judge(cut: _Cut, negated: bool, ref: tuple[Array, Array], new: tuple[Array, Array]) -> None:
        nonlocal tests
        ref_den, ref_rate = rates(*ref)
        new_den, new_rate = rates(*new)
        new_cells = new[1]
        # the rest of the batch: a change as large outside the slice is the batch's, not the slice's
        # (a new month's value of an indicator, an overall fault the per-segment checks judge)
        _, rest_rate = rates(len(batch) - new[0], batch_all[1] - new_cells)
        rest_rate = np.nan_to_num(rest_rate, nan=0.0)
        own = np.array([a.feature in {found[i].column for i in cut.axes} for a in anomalies.anomalies])
        eligible = (ref_den >= rules.min_rows) & (new_den >= rules.min_rows) & ~own[None, :]
        collapsed = (new_rate >= rules.constant_share) & (ref_rate < rules.constant_share)
        with np.errstate(invalid="ignore"):
            moved = 2 * np.arcsin(np.sqrt(new_rate)) - 2 * np.arcsin(np.sqrt(ref_rate)) >= rules.label_slice_h
        # labels: a class's share moved far (Cohen's h); all of one class is judged by the same
        # size, since a rare class that vanished from a slice is as often the world as a fault
        concentrated = new_rate - rest_rate >= CONCENTRATED * (new_rate - ref_rate)
        # labels all of one class in a slice, where neither the reference there nor the rest of the
        # batch is: a collapse even when the whole batch moved toward that class
        alone = is_label & collapsed & (rest_rate < rules.constant_share)
        effect = np.where(
            is_label,
            moved,
            np.where(is_constant, collapsed, new_rate - ref_rate >= floors),
        ) & (concentrated | alone)
        tests += int(eligible.sum())
        g, k = np.nonzero(eligible & effect)
        if len(g):
            stats = (new_cells[g, k], new_den[g, k], ref[1][g, k], ref_den[g, k])
            candidates.append((g, k, cut, negated, stats))

    for cut in _cuts(found):
        ref, new = ref_table.counts(cut.reference, cut.groups), batch_table.counts(cut.batch, cut.groups)
        judge(cut, False, ref, new)
        if len(cut.axes) == 1 and found[cut.axes[0]].complements:
            judge(
                cut,
                True,
                (len(reference) - ref[0], ref_all[1] - ref[1]),
                (len(batch) - new[0], batch_all[1] - new[1]),
            )
    findings = _significant(candidates, anomalies.anomalies, found, tests, rules.slice_alpha)
    if layouts is not None and findings:
        from gatekeeper.data.evidence import in_units

        findings = in_units(findings, anomalies, found, layouts, tests, rules.slice_alpha, rules.min_rows)
    ref_den = len(reference) - np.where(is_null, 0.0, ref_all[1][0, null_of])
    new_den = len(batch) - np.where(is_null, 0.0, batch_all[1][0, null_of])
    excess = batch_all[1][0] - new_den * ref_all[1][0] / np.maximum(ref_den, 1.0)
    return Search(findings, found, tests, dict(zip(anomalies.anomalies, excess.tolist(), strict=True)))


def floor(kind: Kind, rules: DataChecks) -> float:
    return {
        "null_rate": rules.max_null_increase,
        "out_of_range": rules.max_out_of_range_increase,
        "new_categories": rules.max_new_category_share,
        "constant": rules.constant_share,
        "label_rate": rules.label_slice_h,
        "label_tail": rules.label_slice_h,
    }[kind]


def _significant(
    candidates: list[tuple[Array, Array, _Cut, bool, tuple[Array, ...]]],
    anomalies: list[Anomaly],
    found: list[Axis],
    tests: int,
    alpha: float,
) -> list[SliceFinding]:
    from scipy.stats import beta, binom

    out: list[SliceFinding] = []
    for g, k, cut, negated, (count, rows, ref_count, ref_rows) in candidates:
        bound = np.where(
            ref_count >= ref_rows, 1.0, beta.ppf(0.95, ref_count + 1, np.maximum(ref_rows - ref_count, 1))
        )
        p = binom.sf(count - 1, rows, bound)
        ref_rate = ref_count / ref_rows
        for i in range(len(g)):
            conditions = _decode(cut, int(g[i]), negated, found)
            out.append(
                SliceFinding(
                    anomalies[int(k[i])],
                    conditions,
                    _name(conditions, found),
                    int(rows[i]),
                    float(count[i] / rows[i]),
                    float(ref_rate[i]),
                    float(count[i] - rows[i] * ref_rate[i]),
                    float(p[i]),
                )
            )
    adjusted = adjust([f.p_value for f in out], "holm", family=tests)
    return [f for f, q in zip(out, adjusted, strict=True) if q < alpha]


def _decode(cut: _Cut, group: int, negated: bool, found: list[Axis]) -> tuple[tuple[int, int, bool], ...]:
    if len(cut.axes) == 1:
        return ((cut.axes[0], group, negated),)
    a, b = cut.axes
    first, second = divmod(group, len(found[b].labels))
    return ((a, first, False), (b, second, False))


def _name(conditions: tuple[tuple[int, int, bool], ...], found: list[Axis]) -> str:
    parts = []
    for axis, code, negated in conditions:
        label = found[axis].labels[code]
        parts.append(label.replace("=", " != ", 1) if negated else label)
    return " & ".join(parts)
