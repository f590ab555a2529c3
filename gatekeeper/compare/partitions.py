"""Champion against candidate from per-partition statistics: the comparison for data that does not
fit one process (pure numpy/pandas; `gatekeeper.decide.on_dask` runs it on a Dask cluster).

Each partition is reduced to small statistics that add up exactly across partitions, whatever the
partitioning, in two passes over the data:

1. per group (overall, each segment, each key segment) and model: label counts per score bin
   (fixed edges: quantiles of a sample, with 0.5 as an edge so the predicted class is exact),
   loss sums, and the rows whose predicted class differs between the models (churn);
2. per group and metric: the histogram (count, sum, sum of squares per bin, fixed edges) of each
   row's paired influence on the delta, looked up from pass 1's totals.

From pass 1 come the point estimates; from pass 2 the paired bootstrap, by the same Poisson
resampling of the influence histogram the single-machine engine uses
(`InfluenceHistogram.resample_means`), so both engines read the evidence the same way. A
histogram of influences is a sum over rows, so it is the same for any partitioning, needs no
shuffle, and its resamples are reproducible from the seed.

The one approximation is score binning: ROC AUC and average precision treat scores within one
bin as tied. With `SCORE_BINS` quantile bins plus a uniform grid of half as many, the error is
below 1e-4 AUC on the tests' data (`tests/unit/test_partitions.py` checks < 1e-3 against the
exact values, on segments whose scores are unlike the rest). Average precision is more
sensitive to ties at the top of the ranking: with ~50 positives in a segment, one positive tied
with a negative in the top bin moves it by up to ~2e-3 (the tests bound it by 3e-3). Every other supported
metric is exact: accuracy, precision, recall, F1 and balanced accuracy depend on the predicted
class, which the 0.5 edge keeps exact; log loss and Brier sum exact per-row losses.
Binary classification only; other tasks are a clear error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.compare.binned import Lookup, ModelCounts, lookup, row_losses
from gatekeeper.compare.segments import Comparison
from gatekeeper.config import PolicyConfig
from gatekeeper.data.segments import rows_where, segments_from_columns
from gatekeeper.engines import DASK_METRICS, check_dask_supports
from gatekeeper.metrics import Array
from gatekeeper.stats.bootstrap import InfluenceHistogram, PairedDelta, SegmentComparison

SUPPORTED = DASK_METRICS
SCORE_BINS = 4096
INFLUENCE_BINS = 64
MODELS = ("candidate", "champion")
KEY = "key: "  # group names of key segments


def check_supported(policy: PolicyConfig) -> None:
    """A clear error for what the partitioned engine cannot compute."""
    check_dask_supports(
        policy.task,
        policy.primary_metric,
        policy.secondary_metrics,
        clustered=bool(policy.cluster_column or policy.time_column),
    )


def score_edges(sample: Array, bins: int = SCORE_BINS) -> Array:
    """Inner bin edges: quantiles of a sample of both models' scores, a uniform grid (a segment whose
    scores lie where the sample had few stays finely binned), and 0.5 (the class boundary)."""
    values = np.asarray(sample, dtype=float)
    values = values[np.isfinite(values)]
    quantiles = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]) if len(values) else np.array([])
    uniform = np.linspace(0, 1, bins // 2 + 1)[1:-1]  # no wide bin where the sample was thin
    return np.unique(np.concatenate([quantiles, uniform, [0.5]]))


def _bin(scores: Array, edges: Array) -> Array:
    return np.searchsorted(edges, scores, side="left")  # p <= edge goes left: p > 0.5 is above 0.5's bin


# ---------------------------------------------------------------- pass 1: label counts per score bin


@dataclass
class GroupCounts:
    """Both models on one group's rows (overall, a segment or a key segment)."""

    where: dict[str, Any]
    models: dict[str, ModelCounts]
    churned: int = 0  # rows whose predicted class differs between the models

    def __sizeof__(self) -> int:  # what Dask counts (sys.getsizeof), so it can spill these
        return 200 + sum(sys.getsizeof(m) for m in self.models.values())

    @property
    def n(self) -> int:
        return int(self.models["candidate"].positives.sum() + self.models["candidate"].negatives.sum())

    def add(self, other: GroupCounts) -> None:
        for name in MODELS:
            self.models[name].add(other.models[name])
        self.churned += other.churned


def _groups(frame: pd.DataFrame, policy: PolicyConfig) -> Iterable[tuple[str, dict[str, Any], Array]]:
    yield "overall", {}, np.arange(len(frame))
    for segment in segments_from_columns(frame, policy.segment_columns):
        yield segment.name, dict(segment.where), segment.index
    for key in policy.key_segments:  # a key segment may also be a segment: its own group
        yield KEY + key.name, dict(key.where), rows_where(frame, key.where)


@dataclass(frozen=True)
class Columns:
    """Which columns of the scores table hold what."""

    label: str
    champion: str
    candidate: str
    positive: Any  # the label value of the positive class

    def positives(self, frame: pd.DataFrame) -> Array:
        """Rows of the positive class. Labels are compared as text (1 and '1' agree), without making
        a Python string per row where the column is numeric or already text."""
        labels = frame[self.label]
        text = str(self.positive)
        if pd.api.types.is_numeric_dtype(labels.dtype) and not pd.api.types.is_bool_dtype(labels.dtype):
            try:
                number = float(text)
            except ValueError:
                return np.zeros(len(frame), dtype=bool)
            return np.asarray(labels.to_numpy(dtype=float, na_value=np.nan) == number)
        if pd.api.types.is_string_dtype(labels.dtype) and not pd.api.types.is_object_dtype(labels.dtype):
            return np.asarray((labels == text).fillna(False), dtype=bool)
        return np.asarray(labels.astype(str) == text)

    def scores(self, frame: pd.DataFrame, model: str) -> Array:
        return np.asarray(frame[getattr(self, model)], dtype=float)


def count_partition(
    frame: pd.DataFrame, columns: Columns, policy: PolicyConfig, edges: Array
) -> dict[str, GroupCounts]:
    """Pass 1 on one partition."""
    positive = columns.positives(frame)
    n_bins = len(edges) + 1
    per_model = {}
    for model in MODELS:
        scores = columns.scores(frame, model)
        log_loss, brier = row_losses(scores, positive)
        per_model[model] = (scores, _bin(scores, edges), log_loss, brier)
    flipped = (per_model["candidate"][0] > 0.5) != (per_model["champion"][0] > 0.5)
    out: dict[str, GroupCounts] = {}
    for name, where, index in _groups(frame, policy):
        models = {}
        for model, (_, bins, log_loss, brier) in per_model.items():
            b, pos = bins[index], positive[index]
            counts = ModelCounts(
                np.bincount(b[pos], minlength=n_bins).astype(float),
                np.bincount(b[~pos], minlength=n_bins).astype(float),
                float(log_loss[index].sum()),
                float(brier[index].sum()),
            )
            if len(index):
                counts.loss_min = np.array([log_loss[index].min(), brier[index].min()])
                counts.loss_max = np.array([log_loss[index].max(), brier[index].max()])
            models[model] = counts
        out[name] = GroupCounts(where, models, int(flipped[index].sum()))
    return out


def merge_counts(parts: Sequence[dict[str, GroupCounts]]) -> dict[str, GroupCounts]:
    """Pass 1's statistics of several partitions as one (exact: sums, minima and maxima)."""
    merged: dict[str, GroupCounts] = {}
    for part in parts:
        for name, group in part.items():
            if name in merged:
                merged[name].add(group)
            else:
                merged[name] = GroupCounts(
                    dict(group.where),
                    {
                        m: ModelCounts(
                            c.positives.copy(),
                            c.negatives.copy(),
                            c.log_loss,
                            c.brier,
                            c.loss_min.copy(),
                            c.loss_max.copy(),
                        )
                        for m, c in group.models.items()
                    },
                    group.churned,
                )
    return merged


# ---------------------------------------------------------------- pass 2: influence histograms


@dataclass(frozen=True)
class Plan:
    """What pass 2 needs from pass 1: each group's metric lookups and fixed influence edges."""

    edges: Array  # score bin edges
    lookups: dict[tuple[str, str], dict[str, Lookup]]  # (group, metric) -> model -> lookup
    spans: dict[tuple[str, str], tuple[float, float]]  # (group, metric) -> influence lo, hi

    def __sizeof__(self) -> int:  # ~1.3 MiB per segment at 9 metrics: Dask must see it
        return self.edges.nbytes + sum(
            sys.getsizeof(lk) for models in self.lookups.values() for lk in models.values()
        )


def plan(counts: dict[str, GroupCounts], metrics: Sequence[str], edges: Array) -> Plan:
    above = np.arange(len(edges) + 1) > int(np.searchsorted(edges, 0.5))  # bins of scores > 0.5
    lookups: dict[tuple[str, str], dict[str, Lookup]] = {}
    spans: dict[tuple[str, str], tuple[float, float]] = {}
    for group, found in counts.items():
        for name in metrics:
            models = {m: lookup(name, found.models[m], above) for m in MODELS}
            lookups[(group, name)] = models
            if all(lk.value is not None for lk in models.values()) and found.n:
                loss = 0 if name == "log_loss" else 1
                c_lo, c_hi = models["candidate"].bounds(found.models["candidate"], loss)
                h_lo, h_hi = models["champion"].bounds(found.models["champion"], loss)
                spans[(group, name)] = (c_lo - h_hi, c_hi - h_lo)
    return Plan(edges, lookups, spans)


def _row_influence(lk: Lookup, bins: Array, positive: Array, losses: tuple[Array, Array], name: str) -> Array:
    if lk.table is not None:
        return np.asarray(lk.table[positive.astype(int), bins])
    assert lk.mean is not None
    return (losses[0] if name == "log_loss" else losses[1]) - lk.mean


Histogram = tuple[Array, Array, Array]  # count, sum, sum of squares per influence bin


def histogram_partition(
    frame: pd.DataFrame, columns: Columns, policy: PolicyConfig, the_plan: Plan
) -> dict[tuple[str, str], Histogram]:
    """Pass 2 on one partition: per group and metric, the histogram of the paired influence."""
    positive = columns.positives(frame)
    per_model = {}
    for model in MODELS:
        scores = columns.scores(frame, model)
        per_model[model] = (_bin(scores, the_plan.edges), row_losses(scores, positive))
    out: dict[tuple[str, str], Histogram] = {}
    for group, _, index in _groups(frame, policy):
        pos = positive[index]
        for (g, name), (lo, hi) in the_plan.spans.items():
            if g != group:
                continue
            models = the_plan.lookups[(g, name)]
            paired = []
            for model in MODELS:
                bins, (log_loss, brier) = per_model[model]
                paired.append(
                    _row_influence(models[model], bins[index], pos, (log_loss[index], brier[index]), name)
                )
            influence = paired[0] - paired[1]
            span = hi - lo or 1.0
            codes = np.clip(
                ((influence - lo) / span * INFLUENCE_BINS).astype(np.int64), 0, INFLUENCE_BINS - 1
            )
            out[(g, name)] = (
                np.bincount(codes, minlength=INFLUENCE_BINS).astype(float),
                np.bincount(codes, weights=influence, minlength=INFLUENCE_BINS),
                np.bincount(codes, weights=influence * influence, minlength=INFLUENCE_BINS),
            )
    return out


def merge_histograms(parts: Sequence[dict[tuple[str, str], Histogram]]) -> dict[tuple[str, str], Histogram]:
    merged: dict[tuple[str, str], Histogram] = {}
    for part in parts:
        for key, (count, total, squares) in part.items():
            if key in merged:
                c, t, q = merged[key]
                merged[key] = (c + count, t + total, q + squares)
            else:
                merged[key] = (count.copy(), total.copy(), squares.copy())
    return merged


# ---------------------------------------------------------------- the comparison


def comparison(
    counts: dict[str, GroupCounts],
    histograms: dict[tuple[str, str], Histogram],
    the_plan: Plan,
    policy: PolicyConfig,
) -> Comparison:
    """The same `Comparison` the single-machine engine builds, from the merged statistics."""
    stats = policy.statistics
    metrics = [policy.primary_metric, *[m for m in policy.secondary_metrics if m != policy.primary_metric]]
    rng = np.random.default_rng(stats.seed)

    def compare(group: str) -> SegmentComparison:
        found = counts[group]
        cand = found.models["candidate"]
        minority = int(min(cand.positives.sum(), cand.negatives.sum())) if found.n else None
        results = []
        for name in metrics:
            models = the_plan.lookups[(group, name)]
            c, h = models["candidate"], models["champion"]
            reason = c.undefined_reason or h.undefined_reason
            if reason or c.value is None or h.value is None:
                results.append(PairedDelta(name, found.n, c.value, h.value, None, reason, minority=minority))
                continue
            delta = c.value - h.value
            count, total, squares = histograms[(group, name)]
            keep = count > 0
            histogram = InfluenceHistogram(count[keep], total[keep], squares[keep])
            means = histogram.resample_means(stats.n_resamples, rng)
            mean = total.sum() / found.n
            sd = float(np.sqrt(max(squares.sum() / found.n - mean * mean, 0.0)))
            results.append(
                PairedDelta(
                    name,
                    found.n,
                    c.value,
                    h.value,
                    delta,
                    None,
                    delta + means,
                    sd,
                    "linearised bootstrap on partitions",
                    minority,
                )
            )
        churn = found.churned / found.n if found.n else None
        return SegmentComparison(
            group, dict(found.where), results[0], {r.metric: r for r in results[1:]}, churn
        )

    segment_names = [g for g in counts if g != "overall" and not g.startswith(KEY)]
    return Comparison(
        compare("overall"),
        [compare(g) for g in sorted(segment_names, key=_segment_order(policy))],
        [replace(compare(KEY + k.name), segment=k.name) for k in policy.key_segments],
    )


def _segment_order(policy: PolicyConfig) -> Any:
    """Segments in the single-machine engine's order: by segment column list, then by value."""
    columns = [tuple(cols) for cols in policy.segment_columns]

    def key(name: str) -> tuple[int, str]:
        cols = tuple(part.split("=", 1)[0] for part in name.split(" & "))
        return (columns.index(cols) if cols in columns else len(columns), name)

    return key


def empty_groups(policy: PolicyConfig, n_bins: int) -> dict[str, GroupCounts]:
    """Every key segment and the overall group, with no rows (so a key segment absent from every
    partition is still reported, as having no rows)."""
    groups: dict[str, dict[str, Any]] = {"overall": {}} | {
        KEY + k.name: dict(k.where) for k in policy.key_segments
    }
    return {
        name: GroupCounts(where, {m: ModelCounts.empty(n_bins) for m in MODELS})
        for name, where in groups.items()
    }


def compare_partitions(
    parts: Sequence[pd.DataFrame], columns: Columns, policy: PolicyConfig, edges: Array
) -> Comparison:
    """Both passes over in-memory partitions, one after another (what the Dask engine distributes)."""
    counts = merge_counts(
        [empty_groups(policy, len(edges) + 1), *(count_partition(p, columns, policy, edges) for p in parts)]
    )
    the_plan = plan(counts, metric_names(policy), edges)
    histograms = merge_histograms([histogram_partition(p, columns, policy, the_plan) for p in parts])
    return comparison(counts, histograms, the_plan, policy)


def metric_names(policy: PolicyConfig) -> list[str]:
    return [policy.primary_metric, *[m for m in policy.secondary_metrics if m != policy.primary_metric]]
