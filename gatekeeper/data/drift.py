"""Drift of the new labels against the reference, per feature and segment (pure; reported, not blocking).

Population stability index (PSI) with a two-sample test (KS for numbers, chi-square for
categories), flagged when PSI reaches `data_checks.psi_threshold` with at least
`data_checks.drift_min_rows` rows on both sides: judged by effect size, never by p-values
alone, so a million-row batch is not "always drifting".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.data.checks import is_numeric
from gatekeeper.data.segments import config_segments
from gatekeeper.findings import DriftResult
from gatekeeper.metrics import Array


def population_stability_index(reference_share: Array, batch_share: Array, floor: float = 1e-4) -> float:
    """Population stability index: sum (b - r) ln(b / r), shares floored to stay finite."""
    r = np.maximum(reference_share, floor)
    b = np.maximum(batch_share, floor)
    return float(np.sum((b - r) * np.log(b / r)))


def _feature_drift(ref: pd.Series, new: pd.Series, bins: int) -> tuple[float, str, float, float]:
    from scipy import stats as sst

    ref_present, new_present = ref.dropna(), new.dropna()
    if is_numeric(ref) and is_numeric(new):
        r = ref_present.to_numpy(dtype=float)
        b = new_present.to_numpy(dtype=float)
        edges = np.unique(np.quantile(r, np.linspace(0, 1, bins + 1)[1:-1]))
        r_share = np.bincount(np.searchsorted(edges, r, side="right"), minlength=len(edges) + 1) / len(r)
        b_share = np.bincount(np.searchsorted(edges, b, side="right"), minlength=len(edges) + 1) / len(b)
        result = sst.ks_2samp(r, b)
        return (
            population_stability_index(r_share, b_share),
            "ks",
            float(result.statistic),
            float(result.pvalue),
        )
    r_counts = ref_present.astype(str).value_counts()
    b_counts = new_present.astype(str).value_counts()
    cats = sorted(set(r_counts.index) | set(b_counts.index))
    r_vec = r_counts.reindex(cats, fill_value=0).to_numpy(dtype=float)
    b_vec = b_counts.reindex(cats, fill_value=0).to_numpy(dtype=float)
    table = np.vstack([r_vec, b_vec])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, "chi2", 0.0, 1.0
    chi2, p, _, _ = sst.chi2_contingency(table)
    return population_stability_index(r_vec / r_vec.sum(), b_vec / b_vec.sum()), "chi2", float(chi2), float(p)


def drift_report(
    reference: pd.DataFrame, batch: pd.DataFrame, features: list[str], config: GateConfig
) -> list[DriftResult]:
    """PSI and a two-sample test per feature, overall and per segment, judged by PSI."""
    rules = config.data_checks
    ref_segments = dict(config_segments(reference, config))
    out = []
    for segment, index in config_segments(batch, config):
        ref_index = ref_segments.get(segment)
        if ref_index is None or len(index) < rules.drift_min_rows or len(ref_index) < rules.drift_min_rows:
            continue
        for feature in features:
            if feature not in batch.columns or feature not in reference.columns:
                continue
            ref_values, new_values = reference[feature].iloc[ref_index], batch[feature].iloc[index]
            if ref_values.dropna().empty or new_values.dropna().empty:
                continue
            value, test, statistic, p = _feature_drift(ref_values, new_values, rules.psi_bins)
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
                    value >= rules.psi_threshold,
                )
            )
    return out
