"""Metrics and per-segment comparison of champion and candidate on the same rows (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True,
    "accuracy": True,
    "balanced_accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "average_precision": True,
    "log_loss": False,
    "brier": False,
}
MISSING_VALUE = "<missing>"


@dataclass(frozen=True)
class MetricValue:
    """A metric on some rows, or the reason it is undefined there."""

    value: float | None
    undefined_reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.value is not None


def gain(metric: str, delta: float) -> float:
    """Delta oriented so that positive always means 'candidate is better'."""
    return delta if HIGHER_IS_BETTER[metric] else -delta


def relative_change(metric: str, champion: float, candidate: float) -> float:
    """Our one definition of relative change: oriented gain divided by |champion|.

    TFMA's docs and code disagree on 'relative'; this is the meaning used everywhere here.
    A champion value of 0 gives +inf/-inf for any non-zero gain and 0.0 for none.
    """
    g = gain(metric, candidate - champion)
    if champion == 0:
        return 0.0 if g == 0 else float(np.sign(g) * np.inf)
    return g / abs(champion)


def metric_value(
    name: str,
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[Any],
    positive_label: Any | None = None,
) -> MetricValue:
    """Compute metric `name` from labels and class probabilities (columns follow `classes`)."""
    from sklearn import metrics as skm

    if name not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {name!r}; expected one of {sorted(HIGHER_IS_BETTER)}")
    n = len(y_true)
    if n == 0:
        return MetricValue(None, "no rows")
    classes = list(classes)
    k = len(classes)
    y = encode_labels(y_true, classes)
    present = np.unique(y)
    binary = k == 2
    pos = classes.index(_positive(classes, positive_label)) if binary else None
    pred = np.argmax(proba, axis=1)
    labels = list(range(k))
    if name in ("roc_auc", "average_precision"):
        if len(present) < 2:
            return MetricValue(None, f"only one class present ({classes[present[0]]!r})")
        if binary:
            fn = skm.roc_auc_score if name == "roc_auc" else skm.average_precision_score
            return MetricValue(float(fn(y == pos, proba[:, pos])))
        if len(present) < k:
            return MetricValue(None, "not every class is present for a one-vs-rest average")
        if name == "roc_auc":
            return MetricValue(float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=labels)))
        onehot = y[:, None] == np.arange(k)[None, :]
        return MetricValue(float(skm.average_precision_score(onehot, proba, average="macro")))
    if name == "accuracy":
        return MetricValue(float(skm.accuracy_score(y, pred)))
    if name == "balanced_accuracy":
        return MetricValue(float(skm.balanced_accuracy_score(y, pred)))
    if name in ("precision", "recall", "f1"):
        fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
        kwargs: dict[str, Any] = (
            {"pos_label": pos, "average": "binary"} if binary else {"average": "macro", "labels": labels}
        )
        return MetricValue(float(fn(y, pred, zero_division=0, **kwargs)))
    if name == "log_loss":
        return MetricValue(float(skm.log_loss(y, proba, labels=labels)))
    # brier
    if binary:
        return MetricValue(float(skm.brier_score_loss(y == pos, proba[:, pos])))
    onehot = (y[:, None] == np.arange(k)[None, :]).astype(float)
    return MetricValue(float(np.mean(np.sum((proba - onehot) ** 2, axis=1))))


def encode_labels(y_true: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Labels as indices into `classes` (compared as text, so 1 and '1' agree)."""
    lookup = {str(c): i for i, c in enumerate(classes)}
    text = pd.Series(y_true).astype(str).to_numpy()
    codes = np.fromiter((lookup.get(t, -1) for t in text), dtype=np.int64, count=len(text))
    if (codes < 0).any():
        unknown = sorted(set(text[codes < 0]))[:5]
        raise ValueError(f"labels {unknown} are not among the model's classes {list(classes)}")
    return codes


def _positive(classes: list[Any], positive_label: Any | None) -> Any:
    if positive_label is None:
        return classes[1]
    for c in classes:
        if c == positive_label or str(c) == str(positive_label):
            return c
    raise ValueError(f"positive_label {positive_label!r} is not one of the classes {classes}")


# ---------------------------------------------------------------- segments


@dataclass(frozen=True)
class Segment:
    """A named subset of the evaluation rows."""

    name: str
    where: dict[str, str]
    index: np.ndarray  # positional row indices


def _as_text(column: pd.Series) -> pd.Series:
    return column.astype("string").fillna(MISSING_VALUE).astype(object)


def segments_from_columns(frame: pd.DataFrame, segment_columns: Sequence[Sequence[str]]) -> list[Segment]:
    """One segment per value of each column; a list of columns gives their intersections."""
    out: list[Segment] = []
    for cols in segment_columns:
        keys = pd.DataFrame({c: _as_text(frame[c]) for c in cols})
        groups = keys.groupby(list(cols), sort=True).indices
        for values, idx in groups.items():
            values = values if isinstance(values, tuple) else (values,)
            where = dict(zip(cols, (str(v) for v in values), strict=True))
            out.append(Segment(" & ".join(f"{c}={v}" for c, v in where.items()), where, np.asarray(idx)))
    return out


def rows_where(frame: pd.DataFrame, where: dict[str, Any]) -> np.ndarray:
    """Positional indices of rows matching every `column: value` (numbers compare as numbers)."""
    mask = np.ones(len(frame), dtype=bool)
    for col, value in where.items():
        column = frame[col]
        if pd.api.types.is_numeric_dtype(column) and not isinstance(value, str | bool):
            mask &= (column == value).to_numpy(dtype=bool, na_value=False)
        else:
            mask &= (_as_text(column) == str(value)).to_numpy(dtype=bool)
    return np.flatnonzero(mask)


# ---------------------------------------------------------------- comparison


@dataclass
class MetricComparison:
    """One metric on one set of rows: champion, candidate, delta (candidate - champion)."""

    metric: str
    n: int
    candidate: float | None
    champion: float | None = None
    delta: float | None = None
    undefined_reason: str | None = None

    @property
    def gain(self) -> float | None:
        return None if self.delta is None else gain(self.metric, self.delta)


@dataclass
class SegmentComparison:
    """A segment's comparison on the primary metric, plus secondary metrics."""

    segment: str
    where: dict[str, Any]
    primary: MetricComparison
    secondary: dict[str, MetricComparison] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.primary.n


def compare_on_rows(
    metric: str,
    y: np.ndarray,
    candidate_proba: np.ndarray,
    champion_proba: np.ndarray | None,
    classes: Sequence[Any],
    positive_label: Any | None = None,
) -> MetricComparison:
    """Score both models on exactly these rows."""
    cand = metric_value(metric, y, candidate_proba, classes, positive_label)
    if champion_proba is None:
        return MetricComparison(metric, len(y), cand.value, undefined_reason=cand.undefined_reason)
    champ = metric_value(metric, y, champion_proba, classes, positive_label)
    reason = cand.undefined_reason or champ.undefined_reason
    delta = None if reason else cand.value - champ.value  # type: ignore[operator]
    return MetricComparison(metric, len(y), cand.value, champ.value, delta, reason)


def compare_segment(
    name: str,
    where: dict[str, Any],
    index: np.ndarray,
    metrics: Sequence[str],
    y: np.ndarray,
    candidate_proba: np.ndarray,
    champion_proba: np.ndarray | None,
    classes: Sequence[Any],
    positive_label: Any | None = None,
) -> SegmentComparison:
    """Primary metric (first of `metrics`) and the rest on the rows at `index`."""
    ys = y[index]
    cp = candidate_proba[index]
    hp = None if champion_proba is None else champion_proba[index]
    results = [compare_on_rows(m, ys, cp, hp, classes, positive_label) for m in metrics]
    return SegmentComparison(name, dict(where), results[0], {r.metric: r for r in results[1:]})


def comparison_to_dict(comparison: MetricComparison) -> dict[str, Any]:
    return asdict(comparison)
