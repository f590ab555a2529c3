"""Drift of the new labels against the reference, per feature and segment (pure; reported, not blocking).

Population stability index (PSI) with a two-sample test (KS for numbers, chi-square for
categories), flagged when PSI reaches `data_checks.psi_threshold` with at least
`data_checks.drift_min_rows` rows on both sides: judged by effect size, never by p-values
alone, so a million-row batch is not "always drifting".

Rows tied by time, file order or entity (`gatekeeper.stats.units`) drift by nature: a month of
data differs from the year before it however healthy both are. There a feature is flagged only when
its PSI is also beyond what stretches of the reference as long as the batch (consecutive rows in
time or file order, consecutive entities) showed against the whole reference (`natural_psi`), and
the test's p-value counts independent units (time blocks or runs as long as the feature's measured
correlation, or entities by their design effect), not rows. Rows measured uncorrelated along time or
the file, with no entity column, keep the row-level result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.data.checks import is_numeric
from gatekeeper.data.segments import config_segments
from gatekeeper.findings import DriftResult
from gatekeeper.metrics import Array
from gatekeeper.stats.units import Layout, find_units, layout_of, reference_length

MAX_STRETCHES = 200  # stretches of the reference whose PSI says how far it drifts by nature


def population_stability_index(reference_share: Array, batch_share: Array, floor: float = 1e-4) -> float:
    """Population stability index: sum (b - r) ln(b / r), shares floored to stay finite."""
    r = np.maximum(reference_share, floor)
    b = np.maximum(batch_share, floor)
    return float(np.sum((b - r) * np.log(b / r)))


def _ks(r: Array, b: Array, units: float = 1.0) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic (exact) and its asymptotic p-value, as scipy's
    `ks_2samp(method="asymp")` gives them, without scipy's per-call validation (~5 ms); with
    `units` rows to one independent unit, the p-value of that many fewer observations."""
    from scipy.stats import kstwo

    r, b = np.sort(r), np.sort(b)
    both = np.concatenate([r, b])
    gap = np.searchsorted(r, both, side="right") / len(r) - np.searchsorted(b, both, side="right") / len(b)
    d = float(np.abs(gap).max())
    n = len(r) * len(b) / (len(r) + len(b)) / max(units, 1.0)
    return d, float(np.clip(kstwo.sf(d, max(np.round(n), 1)), 0, 1))


def _chi2(table: Array, units: float = 1.0) -> tuple[float, float]:
    """Pearson's chi-square test of a 2 x k table, as scipy's `chi2_contingency` (Yates' correction
    at one degree of freedom), without its per-call validation; with `units` rows to one independent
    unit, the statistic of counts that many times smaller."""
    from scipy.stats import chi2

    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    dof = table.shape[1] - 1
    gap = np.abs(table - expected)
    if dof == 1:
        gap = np.maximum(gap - 0.5, 0.0)  # never past the expected value
    statistic = float((gap * gap / expected).sum()) / max(units, 1.0)
    return statistic, float(chi2.sf(statistic, dof))


def _shares(codes: Array, k: int) -> Array:
    counts = np.bincount(codes, minlength=k).astype(float)
    return np.asarray(counts / max(counts.sum(), 1.0))


def _numeric_drift(r: Array, b: Array, bins: int, units: float) -> tuple[float, str, float, float]:
    edges = np.unique(np.quantile(r, np.linspace(0, 1, bins + 1)[1:-1]))
    r_share = _shares(np.searchsorted(edges, r, side="right"), len(edges) + 1)
    b_share = _shares(np.searchsorted(edges, b, side="right"), len(edges) + 1)
    statistic, p = _ks(r, b, units)
    return population_stability_index(r_share, b_share), "ks", statistic, p


def _category_drift(r_codes: Array, b_codes: Array, k: int, units: float) -> tuple[float, str, float, float]:
    r_vec = np.bincount(r_codes, minlength=k).astype(float)
    b_vec = np.bincount(b_codes, minlength=k).astype(float)
    table = np.vstack([r_vec, b_vec])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, "chi2", 0.0, 1.0
    statistic, p = _chi2(table, units)
    return population_stability_index(r_vec / r_vec.sum(), b_vec / b_vec.sum()), "chi2", statistic, p


def _reference_codes(r: Array, k: int | None, bins: int) -> tuple[Array, int]:
    """The reference's values as codes of its own quantile bins (numbers) or of their categories."""
    if k is not None:
        return r, k
    edges = np.unique(np.quantile(r, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, r, side="right"), len(edges) + 1


NATURAL_QUANTILE = 0.95  # the batch's PSI must pass what all but this share of stretches showed


def natural_psi(codes: Array, k: int, length: int) -> float | None:
    """How far a stretch of `length` consecutive codes drifts from all of them by nature: the 95th
    percentile of the PSI of up to `MAX_STRETCHES` stretches, evenly spaced (their highest when fewer
    than 20 fit without overlapping: the percentile of near-copies says nothing). A stretch's PSI
    holds the same sampling noise as a batch of its length, so the two compare like with like. None
    when the reference is shorter than two stretches. Counted per stretch (memory: the codes and
    one count per category, never rows x categories)."""
    n = len(codes)
    if length <= 0 or n < 2 * length:
        return None
    whole = np.maximum(_shares(codes, k), 1e-4)
    starts = np.unique(np.linspace(0, n - length, min(MAX_STRETCHES, n - length + 1)).astype(int))
    values = np.empty(len(starts))
    for i, start in enumerate(starts):
        share = np.maximum(np.bincount(codes[start : start + length], minlength=k) / length, 1e-4)
        values[i] = np.sum((share - whole) * np.log(share / whole))
    if n // length < 20:
        return float(values.max())
    return float(np.quantile(values, NATURAL_QUANTILE))


def design_effect(signal: Array, groups: Array) -> float:
    """Rows per independent unit when rows come in groups (entities): 1 + (m - 1) x ICC, with m the
    size-weighted mean group size and the intra-class correlation by one-way ANOVA moments (a
    feature constant within an entity: its size; one that varies freely inside: 1)."""
    x = np.asarray(signal, dtype=float)
    sizes = np.bincount(groups).astype(float)
    used = sizes > 0
    count, n = int(used.sum()), float(len(x))
    if count < 2 or n <= count:
        return 1.0
    sums = np.bincount(groups, weights=x)[used]
    sizes = sizes[used]
    mean = x.sum() / n
    between = float(np.sum((sums - sizes * mean) ** 2 / sizes)) / (count - 1)
    within = float(np.sum(x * x) - np.sum(sums * sums / sizes)) / (n - count)
    n0 = (n - float(np.sum(sizes**2)) / n) / (count - 1)
    denominator = between + (n0 - 1) * within
    icc = 0.0 if denominator <= 0 else min(max((between - within) / denominator, 0.0), 1.0)
    return 1.0 + (float(np.sum(sizes**2)) / n - 1.0) * icc


def _columns(ref: pd.Series, new: pd.Series) -> tuple[Array, Array, int | None]:
    """Both sides as floats (numbers) or as shared category codes (-1: missing), once per feature."""
    if is_numeric(ref) and is_numeric(new):
        return ref.to_numpy(dtype=float), new.to_numpy(dtype=float), None
    text = pd.concat([ref, new], ignore_index=True)
    codes, uniques = pd.factorize(text.where(text.isna(), text.astype(str)))
    return codes[: len(ref)], codes[len(ref) :], len(uniques)


def drift_report(
    reference: pd.DataFrame, batch: pd.DataFrame, features: list[str], config: GateConfig
) -> list[DriftResult]:
    """PSI and a two-sample test per feature, overall and per segment, judged by PSI (and, where rows
    are tied, against the reference's own drift between stretches)."""
    rules = config.data_checks
    ref_segments = dict(config_segments(reference, config))
    pairs = [
        (segment, ref_segments[segment], index)
        for segment, index in config_segments(batch, config)
        if segment in ref_segments
        and len(index) >= rules.drift_min_rows
        and len(ref_segments[segment]) >= rules.drift_min_rows
    ]
    reference_layout = layout_of(reference, config.cluster_column, config.time_column)
    out = []
    for feature in features:
        if feature not in batch.columns or feature not in reference.columns or not pairs:
            continue
        ref_all, new_all, k = _columns(reference[feature], batch[feature])
        for segment, ref_index, index in pairs:
            r, b, where = ref_all[ref_index], new_all[index], ref_index
            keep = ~np.isnan(r) if k is None else r >= 0
            r, b, where = r[keep], (b[~np.isnan(b)] if k is None else b[b >= 0]), where[keep]
            if not len(r) or not len(b):
                continue
            tied = _tied(r, b, k, where, reference_layout, rules.psi_bins)
            units = 1.0 if tied is None else tied[1]
            if k is None:
                value, test, statistic, p = _numeric_drift(r, b, rules.psi_bins, units)
            else:
                value, test, statistic, p = _category_drift(r, b, k, units)
            natural = None if tied is None else tied[0]
            drifted = value >= rules.psi_threshold and (natural is None or value > natural)
            out.append(
                DriftResult(
                    feature,
                    segment,
                    value,
                    test,
                    statistic,
                    p,
                    len(ref_index),
                    len(index),
                    drifted,
                    natural,
                    "row" if tied is None else tied[2],
                )
            )
    return out


def _tied(
    r: Array, b: Array, k: int | None, where: Array, reference: Layout, bins: int
) -> tuple[float | None, float, str] | None:
    """For a feature whose rows are tied (time, file order, entity): the reference's natural PSI
    between batch-long stretches, rows per independent unit, and the unit's name; None when the rows
    are independent (no entities, and consecutive rows measured uncorrelated: length 1)."""
    r_codes, width = _reference_codes(r, k, bins)
    # each of the segment's reference rows' place in time (or file) order; entities kept together
    order = reference.position[where]
    if reference.clusters is not None:
        entity = find_units(len(where), clusters=reference.clusters[where]).ids  # a missing id: alone
        arranged = np.lexsort((order, entity))
        ordered = r_codes[arranged]
        signal = ordered.astype(float) if k is None else _shares(ordered, width)[ordered]
        units = design_effect(signal, entity[arranged])
        kind = "cluster"
    else:
        ordered = r_codes[np.argsort(order)]
        # persistence along the order: of a number's level (its bin), of a category's commonness
        signal = ordered.astype(float) if k is None else _shares(ordered, width)[ordered]
        length = reference_length(signal, Layout(len(ordered)), Layout(len(ordered)))
        if length <= 1:
            return None
        units = float(length)
        kind = "time block" if reference.times is not None else "run"
    return natural_psi(ordered, width, len(b)), units, kind
