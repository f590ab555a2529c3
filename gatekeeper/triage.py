"""Triage before training: is retraining warranted, and are the new labels trustworthy? (pure)

- Degradation: the champion scored on the new labelled batch, overall and per segment, against
  the reference performance it had when it was gated. With no degradation anywhere the gate
  does not retrain (`not_retrained`, the saved training said), unless `triage.force_retrain`.
- Label quality (only when the champion has skill on the trusted rows, `triage.min_skill_auc`;
  a model that cannot rank cannot vouch for labels): the champion (trained on the reference,
  so independent of the batch) scores
  both the batch and the evaluation rows; confident-learning counting flags rows whose label
  disagrees with a confident prediction of another class. Comparing the batch's rate with the
  evaluation rows' rate (same model, same thresholds) separates bad labels from a changed world:
  drift raises both, bad labels only the batch's. Duplicated feature rows with conflicting
  labels count too. Either beyond its limit blocks with diagnosis `label_quality`.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.paired import PairedRows, PsiHistogram, estimate
from gatekeeper.policy import Check, adjust, too_few_of_a_class
from gatekeeper.stats import HIGHER_IS_BETTER, config_segments, drop_covered_intersections

ADVICE_LABELS = (
    "check how this batch was labelled (the labelling tool, guidelines, the join to outcomes) "
    "before training on it; a model trained on wrong labels learns wrong relations"
)


def single_interval(
    metric: str,
    rows: PairedRows,
    proba: np.ndarray,
    *,
    n_resamples: int,
    level: float,
    rng: np.random.Generator,
    bins: int = 64,
) -> tuple[float | None, float | None, float | None]:
    """One model's metric with a bootstrap interval (value, low, high)."""
    est = estimate(metric, rows, proba)
    if est.value is None or est.psi is None:
        return est.value, None, None
    draws = est.value + PsiHistogram.of(est.psi, bins).resample_means(n_resamples, rng)
    lo, hi = np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2])
    return est.value, float(lo), float(hi)


# ---------------------------------------------------------------- degradation


def degradation_checks(
    batch: pd.DataFrame, rows: PairedRows, reference: dict[str, Any] | None, config: GateConfig
) -> tuple[list[Check], list[dict[str, Any]]]:
    """Where the champion does worse on the new labels than it did when it was gated."""
    metric = config.primary_metric
    settings, stats = config.triage, config.statistics
    if reference is None or reference.get("metric") != metric:
        note = Check(
            "triage.reference",
            "warn",
            "the champion has no recorded reference performance for "
            f"{metric}; retraining without a degradation check",
        )
        return [note], []
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    rng = np.random.default_rng(stats.seed + 17)
    level = stats.confidence_level
    table, p_values = [], []
    for name, index in config_segments(batch, config):
        ref = reference["overall"] if name == "overall" else reference["segments"].get(name)
        if ref is None or len(index) < config.min_segment_rows:
            continue
        minority = (
            int(np.bincount(rows.y[index], minlength=len(rows.classes)).min()) if rows.classes else None
        )
        if too_few_of_a_class(metric, minority, config.min_class_rows):
            continue
        value, lo, hi = single_interval(
            metric,
            rows.take(index),
            rows.candidate[index],
            n_resamples=stats.n_resamples,
            level=level,
            rng=rng,
            bins=stats.bins,
        )
        if value is None or lo is None or hi is None:
            continue
        # the reference is an estimate too: its standard error scales from the batch's by the row counts
        se_batch = (hi - lo) / (2 * NormalDist().inv_cdf(1 - (1 - level) / 2))
        ref_rows = (reference.get("rows") or {}).get(name) or len(index)
        se = float(np.hypot(se_batch, se_batch * np.sqrt(len(index) / max(ref_rows, 1))))
        gap = sign * (value - ref)  # negative: worse than when gated
        p = (
            NormalDist().cdf((gap + settings.max_degradation) / se)
            if se > 0
            else float(gap >= -settings.max_degradation)
        )
        p_values.append(p)
        table.append(
            {
                "segment": name,
                "n": len(index),
                "reference": ref,
                "reference_rows": ref_rows,
                "batch": value,
                "ci_low": lo,
                "ci_high": hi,
                "p_degraded": p,
            }
        )
    adjusted = adjust(p_values, stats.correction)
    degraded = []
    for row, p_adj in zip(table, adjusted, strict=True):
        row["p_degraded"] = p_adj
        row["degraded"] = bool(p_adj < (1 - level) / 2)
        if row["degraded"]:
            degraded.append(row["segment"])
    if degraded or settings.force_retrain:
        return [], table
    saved = Check(
        "triage.no_degradation",
        "fail",
        f"the champion performs on the new labels as it did when it was gated ({metric}, overall and "
        f"in {len(table) - 1} segments, tolerance {settings.max_degradation}): retraining would not "
        "help, so it was skipped",
        blocking=True,
        outcome="skip",
        diagnosis="no_degradation",
        advice=f"nothing to do; training on {rows.n} new rows and its compute were saved "
        "(set triage.force_retrain to retrain anyway)",
    )
    return [saved], table


# ---------------------------------------------------------------- labels


@dataclass
class _Noise:
    flagged: np.ndarray  # bool per row
    confidence: np.ndarray  # the other class's probability, for ranking examples


def confident_mislabels(y: np.ndarray, proba: np.ndarray, thresholds: np.ndarray) -> _Noise:
    """Rows labelled i where some other class j reaches its threshold t_j (confident learning)."""
    other = proba.copy()
    other[np.arange(len(y)), y] = -1.0
    above = other >= thresholds[None, :]
    flagged = above.any(axis=1)
    return _Noise(flagged, np.where(above, other, 0.0).max(axis=1))


def class_thresholds(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """t_j: the mean probability of class j among rows labelled j (classes never seen: never flag)."""
    k = proba.shape[1]
    return np.array([proba[y == j, j].mean() if (y == j).any() else np.inf for j in range(k)])


def label_checks(
    batch: pd.DataFrame,
    batch_rows: PairedRows,
    trusted: pd.DataFrame,
    trusted_rows: PairedRows,
    features: list[str],
    config: GateConfig,
) -> tuple[list[Check], list[dict[str, Any]]]:
    """Label noise (each segment of the batch against the same segment of the trusted evaluation rows)
    and conflicting duplicates."""
    settings = config.triage
    checks: list[Check] = []
    skill = estimate("roc_auc", trusted_rows, trusted_rows.candidate).value
    if skill is None or skill < settings.min_skill_auc:
        note = Check(
            "labels.not_judged",
            "warn",
            f"label noise not judged: the champion's ROC AUC on the trusted "
            f"evaluation rows is {'undefined' if skill is None else f'{skill:.3f}'}, below "
            f"triage.min_skill_auc={settings.min_skill_auc}; its disagreement with labels says nothing",
        )
        return [note], []
    thresholds = class_thresholds(trusted_rows.y, trusted_rows.candidate)
    trusted_flags = confident_mislabels(trusted_rows.y, trusted_rows.candidate, thresholds).flagged
    baselines = {
        name: float(trusted_flags[index].mean())
        for name, index in config_segments(trusted, config)
        if len(index) >= settings.min_rows
    }
    noise = confident_mislabels(batch_rows.y, batch_rows.candidate, thresholds)
    table = []
    for name, index in config_segments(batch, config):
        if len(index) < settings.min_rows or name not in baselines:
            continue
        rate, baseline = float(noise.flagged[index].mean()), baselines[name]
        excess = rate - baseline
        table.append(
            {
                "segment": name,
                "n": len(index),
                "suspect_rate": rate,
                "baseline_rate": baseline,
                "excess": excess,
            }
        )
        if excess >= settings.max_label_noise_increase and (
            name == "overall" or len(index) >= config.min_segment_rows
        ):
            worst = index[np.argsort(-noise.confidence[index])][:10]
            ids = _row_ids(batch, worst, config.id_columns)
            checks.append(
                Check(
                    "labels.noise",
                    "fail",
                    f"{rate:.1%} of labels in {name} disagree with a confident prediction of another class, "
                    f"against {baseline:.1%} in the same segment of the trusted evaluation rows "
                    f"({len(index)} rows); most suspect rows: {ids}",
                    segment=name,
                    column=config.target,
                    table="new_labels",
                    observed={"suspect_rate": rate, "baseline_rate": baseline, "rows": ids},
                    threshold=settings.max_label_noise_increase,
                    blocking=True,
                    outcome="block",
                    diagnosis="label_quality",
                    advice=ADVICE_LABELS,
                )
            )
    checks = drop_covered_intersections(checks)[:8]
    conflict = _conflicting_duplicates(batch, features, config.target)
    usual = _conflicting_duplicates(trusted, features, config.target)  # coarse features conflict legitimately
    if conflict - usual >= settings.max_conflicting_share:
        checks.append(
            Check(
                "labels.conflicting_duplicates",
                "fail",
                f"{conflict:.1%} of the batch are rows with identical features but different labels "
                f"({usual:.1%} in the trusted evaluation rows)",
                segment="overall",
                column=config.target,
                table="new_labels",
                observed=conflict,
                threshold=settings.max_conflicting_share,
                blocking=True,
                outcome="block",
                diagnosis="label_quality",
                advice=ADVICE_LABELS,
            )
        )
    return checks, table


def _row_ids(frame: pd.DataFrame, index: np.ndarray, id_columns: list[str]) -> list[Any]:
    cols = [c for c in id_columns if c in frame.columns]
    if not cols:
        return [int(i) for i in index]
    values = frame.iloc[index][cols[0]].tolist()
    return [v.item() if hasattr(v, "item") else v for v in values]


def _conflicting_duplicates(frame: pd.DataFrame, features: list[str], target: str) -> float:
    cols = [f for f in features if f in frame.columns]
    if not cols or target not in frame.columns or len(frame) == 0:
        return 0.0
    keyed = pd.util.hash_pandas_object(frame[cols], index=False)
    labels_per_key = frame[target].groupby(keyed.to_numpy()).transform("nunique")
    return float((labels_per_key > 1).mean())


# ---------------------------------------------------------------- after retraining


def relation_changes(
    champion: Any,
    candidate: Any,
    frame: pd.DataFrame,
    config: GateConfig,
    champion_features: list[str],
    candidate_features: list[str],
    max_rows: int = 5000,
) -> list[dict[str, Any]]:
    """Per-feature permutation importance of champion and candidate on the same rows, largest change first."""
    from sklearn.inspection import permutation_importance

    sample = frame.sample(min(len(frame), max_rows), random_state=config.statistics.seed)
    y = sample[config.target]
    scoring = "neg_root_mean_squared_error" if config.task == "regression" else "neg_log_loss"
    importances = {}
    for name, model, feats in (
        ("champion", champion, champion_features),
        ("candidate", candidate, candidate_features),
    ):
        result = permutation_importance(
            model, sample[feats], y, scoring=scoring, n_repeats=3, random_state=config.statistics.seed
        )
        importances[name] = dict(zip(feats, result.importances_mean, strict=True))
    features = sorted(set(importances["champion"]) | set(importances["candidate"]))
    rows = [
        {
            "feature": f,
            "champion": float(importances["champion"].get(f, 0.0)),
            "candidate": float(importances["candidate"].get(f, 0.0)),
        }
        for f in features
    ]
    for r in rows:
        r["change"] = r["candidate"] - r["champion"]
    return sorted(rows, key=lambda r: -abs(r["change"]))
