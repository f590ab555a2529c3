"""Regression discovery: subgroups nobody configured where the candidate is worse (pure).

Beyond the configured segments, the gate searches conjunctions of up to `max_conditions`
feature conditions (categorical values; numeric features cut into quantile bins) for rows where
the candidate's per-row loss (log loss; squared error for regression) exceeds the champion's.
Searching many subgroups finds noise, so the rows are split at random (whole entities or time
blocks where rows come in such units): the search ranks
subgroups on one half; each of the best is then measured on the other half only, with the
primary metric's paired bootstrap interval at a Bonferroni-corrected level across the subgroups
carried over. A subgroup is `confirmed` when that held-out interval lies wholly on the worse
side of 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from gatekeeper.config import PolicyConfig
from gatekeeper.findings import DiscoveredRegression
from gatekeeper.metrics import Array
from gatekeeper.metrics import metric as metric_of
from gatekeeper.stats.bootstrap import paired_delta
from gatekeeper.stats.rows import PairedRows

MAX_SEARCH_ROWS = 500_000


@dataclass(frozen=True)
class Condition:
    feature: str
    code: int
    label: str


@dataclass
class _Coded:
    feature: str
    codes: Array  # per row, -1 where the feature is missing
    labels: list[str]


def _code_feature(frame: pd.DataFrame, feature: str, search: Array, bins: int) -> _Coded | None:
    column = frame[feature]
    if (
        pd.api.types.is_numeric_dtype(column)
        and not pd.api.types.is_bool_dtype(column)
        and column.nunique() > bins
    ):
        values = column.to_numpy(dtype=float)
        edges = np.unique(np.nanquantile(values[search], np.linspace(0, 1, bins + 1)[1:-1]))
        codes = np.searchsorted(edges, values, side="right")
        codes = np.where(np.isnan(values), -1, codes)
        bounds = [-np.inf, *edges, np.inf]
        labels = [_interval(feature, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
        return _Coded(feature, codes.astype(np.int64), labels)
    text = column.astype("string")
    categories = pd.Categorical(text)
    if len(categories.categories) > 200:  # an id-like column: no subgroup worth naming
        return None
    return _Coded(
        feature, categories.codes.astype(np.int64), [f"{feature}={c}" for c in categories.categories]
    )


def _interval(feature: str, lo: float, hi: float) -> str:
    if lo == -np.inf:
        return f"{feature} < {hi:.4g}"
    if hi == np.inf:
        return f"{feature} >= {lo:.4g}"
    return f"{feature} in [{lo:.4g}, {hi:.4g})"


def per_row_loss_difference(rows: PairedRows) -> Array:
    """Candidate's minus champion's per-row loss (log loss; squared error for regression):
    positive where the candidate is worse."""
    assert rows.champion is not None
    if not rows.classes:
        return np.asarray((rows.candidate - rows.y) ** 2 - (rows.champion - rows.y) ** 2)
    idx = np.arange(rows.n)
    eps = np.finfo(float).eps

    def loss(p: Array) -> Array:
        return np.asarray(-np.log(np.clip(p[idx, rows.y], eps, 1.0)))

    return loss(rows.candidate) - loss(rows.champion)


def _group_stats(codes: Array, values: Array, size: int) -> tuple[Array, Array, Array]:
    ok = codes >= 0
    count = np.bincount(codes[ok], minlength=size).astype(float)
    total = np.bincount(codes[ok], weights=values[ok], minlength=size)
    squares = np.bincount(codes[ok], weights=values[ok] ** 2, minlength=size)
    return count, total, squares


def _candidates(
    coded: list[_Coded], search: Array, diff: Array, max_conditions: int, min_rows: int, keep: int
) -> list[tuple[float, tuple[Condition, ...], int]]:
    """Subgroups ranked by the lower bound of their mean loss difference on the search rows."""
    values = diff[search]
    found: list[tuple[float, tuple[Condition, ...], int]] = []

    def collect(codes: Array, size: int, decode: Callable[[int], tuple[Condition, ...]]) -> None:
        count, total, squares = _group_stats(codes, values, size)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
            sd = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
            bound = mean - 2.0 * sd / np.sqrt(count)
        for g in np.flatnonzero((count >= min_rows) & (bound > 0)):
            found.append((float(bound[g]), decode(int(g)), int(count[g])))

    def single(c: _Coded) -> Callable[[int], tuple[Condition, ...]]:
        return lambda g: (Condition(c.feature, g, c.labels[g]),)

    def pair(a: _Coded, b: _Coded) -> Callable[[int], tuple[Condition, ...]]:
        w = len(b.labels)
        return lambda g: (
            Condition(a.feature, g // w, a.labels[g // w]),
            Condition(b.feature, g % w, b.labels[g % w]),
        )

    for c in coded:
        collect(c.codes[search], len(c.labels), single(c))
    if max_conditions >= 2:
        for a, b in combinations(coded, 2):
            width = len(b.labels)
            ca, cb = a.codes[search], b.codes[search]
            joint = np.where((ca >= 0) & (cb >= 0), ca * width + cb, -1)
            collect(joint, len(a.labels) * width, pair(a, b))
    found.sort(key=lambda t: -t[0])
    return found[:keep]


def _halves(n: int, clusters: Array | None, rng: np.random.Generator) -> tuple[Array, Array]:
    """The search's rows and the confirmation's, sorted: a random half of the rows each, or, where
    rows come in units (entities, time blocks, runs of the file's order), a random half of the units
    each (whole units, about half the rows): a unit's shared noise found by the search must not
    come back as confirmation from the same unit's other rows."""
    if clusters is None:
        order = rng.permutation(n)
        return np.sort(order[: n // 2]), np.sort(order[n // 2 :])
    _, unit = np.unique(clusters, return_inverse=True)
    sizes = np.bincount(unit)
    shuffled = rng.permutation(len(sizes))
    in_search = np.zeros(len(sizes), dtype=bool)
    in_search[shuffled[np.cumsum(sizes[shuffled]) <= n // 2]] = True  # units until half the rows
    searched = in_search[unit]
    return np.flatnonzero(searched), np.flatnonzero(~searched)


def discover_regressions(
    frame: pd.DataFrame, features: list[str], rows: PairedRows, metric: str, config: PolicyConfig
) -> list[DiscoveredRegression]:
    """The worst subgroups for the candidate, each measured on rows the search never saw."""
    if rows.champion is None:
        return []
    settings, stats = config.discovery, config.statistics
    min_rows = settings.min_rows or config.min_segment_rows
    n = rows.n
    if n < 2 * min_rows:
        return []
    rng = np.random.default_rng(stats.seed + 7919)
    search, confirm = _halves(n, rows.clusters, rng)
    if len(search) > MAX_SEARCH_ROWS:
        search = np.sort(rng.choice(search, MAX_SEARCH_ROWS, replace=False))
    coded = [c for f in features if (c := _code_feature(frame, f, search, settings.numeric_bins)) is not None]
    diff = per_row_loss_difference(rows)
    half_min = max(min_rows // 2, 10)
    picked = _candidates(coded, search, diff, settings.max_conditions, half_min, keep=3 * settings.top_k)
    if not picked:
        return []
    level = 1 - (1 - stats.confidence_level) / len(picked)  # Bonferroni across the subgroups carried over
    by_feature = {c.feature: c for c in coded}
    results: list[DiscoveredRegression] = []
    for _, conditions, n_search in picked:
        mask = np.ones(n, dtype=bool)
        for cond in conditions:
            mask &= by_feature[cond.feature].codes == cond.code
        held_out = confirm[mask[confirm]]
        if len(held_out) < half_min:
            continue
        delta = paired_delta(
            metric, rows.take(held_out), n_resamples=stats.n_resamples, rng=rng, bins=stats.bins
        )
        if delta.delta is None or delta.too_few_units:
            continue  # undefined there, or held out in too few units for an interval
        lo, hi = delta.interval(level)
        gains = delta.gains()
        assert gains is not None
        assert delta.gain is not None
        worst_gain = float(np.quantile(gains, 1 - (1 - level) / 2))
        results.append(
            DiscoveredRegression(
                subgroup=" & ".join(c.label for c in conditions),
                conditions=[c.label for c in conditions],
                n=len(held_out),
                n_search=n_search,
                share=float(mask.mean()),
                metric=metric,
                champion=delta.champion,
                candidate=delta.candidate,
                delta=delta.delta,
                ci_low=lo,
                ci_high=hi,
                ci_level=level,
                confirmed=worst_gain < 0,
            )
        )
    results.sort(key=lambda r: (not r.confirmed, metric_of(metric).gain(r.delta)))  # worst first
    return results[: settings.top_k]
