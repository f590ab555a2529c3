"""Can the new labels be trusted? Label noise and conflicting duplicates (pure).

Only judged when the champion has skill on the trusted rows (`triage.min_skill_auc`; a model
that cannot rank cannot vouch for labels): the champion (trained on the reference, so
independent of the batch) scores both the batch and the evaluation rows; confident-learning
counting flags rows whose label disagrees with a confident prediction of another class.
Comparing the batch's rate with the evaluation rows' rate (same model, same thresholds)
separates bad labels from a changed world: drift raises both, bad labels only the batch's.
Duplicated feature rows with conflicting labels count too. Either beyond its limit blocks with
diagnosis `label_quality`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.compare.rows import PairedRows
from gatekeeper.config import GateConfig
from gatekeeper.data.checks import ADVICE_LABELS
from gatekeeper.data.segments import config_segments, drop_covered_intersections
from gatekeeper.findings import LabelNoiseRow
from gatekeeper.metrics import Array, estimate
from gatekeeper.vocabulary import Check


@dataclass(frozen=True)
class _Noise:
    flagged: Array  # bool per row
    confidence: Array  # the other class's probability, for ranking examples


def confident_mislabels(y: Array, proba: Array, thresholds: Array) -> _Noise:
    """Rows labelled i where some other class j reaches its threshold t_j (confident learning)."""
    other = proba.copy()
    other[np.arange(len(y)), y] = -1.0
    above = other >= thresholds[None, :]
    flagged = above.any(axis=1)
    return _Noise(np.asarray(flagged), np.asarray(np.where(above, other, 0.0).max(axis=1)))


def class_thresholds(y: Array, proba: Array) -> Array:
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
) -> tuple[list[Check], list[LabelNoiseRow]]:
    """Label noise (each segment of the batch against the same segment of the trusted evaluation rows)
    and conflicting duplicates."""
    settings = config.triage
    checks: list[Check] = []
    skill = estimate("roc_auc", trusted_rows.targets, trusted_rows.candidate).value
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
    table: list[LabelNoiseRow] = []
    for name, index in config_segments(batch, config):
        if len(index) < settings.min_rows or name not in baselines:
            continue
        rate, baseline = float(noise.flagged[index].mean()), baselines[name]
        excess = rate - baseline
        table.append(LabelNoiseRow(name, len(index), rate, baseline, excess))
        if excess >= settings.max_label_noise_increase and (
            name == "overall" or len(index) >= config.min_segment_rows
        ):
            worst = index[np.argsort(-noise.confidence[index])][:10]
            ids = _row_ids(batch, worst, config.id_columns)
            checks.append(
                Check(
                    "labels.noise",
                    "block",
                    f"{rate:.1%} of labels in {name} disagree with a confident prediction of another class, "
                    f"against {baseline:.1%} in the same segment of the trusted evaluation rows "
                    f"({len(index)} rows); most suspect rows: {ids}",
                    segment=name,
                    column=config.target,
                    table="new_labels",
                    observed={"suspect_rate": rate, "baseline_rate": baseline, "rows": ids},
                    threshold=settings.max_label_noise_increase,
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
                "block",
                f"{conflict:.1%} of the batch are rows with identical features but different labels "
                f"({usual:.1%} in the trusted evaluation rows)",
                segment="overall",
                column=config.target,
                table="new_labels",
                observed=conflict,
                threshold=settings.max_conflicting_share,
                diagnosis="label_quality",
                advice=ADVICE_LABELS,
            )
        )
    return checks, table


def _row_ids(frame: pd.DataFrame, index: Array, id_columns: list[str]) -> list[Any]:
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
