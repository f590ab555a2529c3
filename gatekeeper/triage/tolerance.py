"""How much worse the champion may get before retraining is warranted, in the metric's own units (pure;
no pandas: the decision imports it, and compare-scores runs without pandas)."""

from __future__ import annotations

from gatekeeper.config import PolicyConfig
from gatekeeper.metrics import metric


def degradation_tolerance(config: PolicyConfig, reference: float) -> float:
    """`triage.max_degradation`, or by default 0.01 of a metric on a fixed scale (AUC, accuracy, R^2,
    log loss) and 1% of the champion's reference value of one in the target's units (RMSE, MAE)."""
    if config.triage.max_degradation is not None:
        return config.triage.max_degradation
    if metric(config.primary_metric).in_target_units:
        return 0.01 * abs(reference)
    return 0.01


def tolerance_words(config: PolicyConfig) -> str:
    if config.triage.max_degradation is not None:
        return f"{config.triage.max_degradation:g}"
    return "1% of its reference value" if metric(config.primary_metric).in_target_units else "0.01"
