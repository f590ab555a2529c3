"""After retraining: if the champion lost ground since it was gated, did the candidate win it back?

When it did not, the world moved further than retraining on more of the same data can follow
(diagnosis `concept_drift_beyond_retraining`); the permutation importances of champion and
candidate show which features' relation to the target changed most.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from gatekeeper.config import GateConfig, PolicyConfig
from gatekeeper.findings import ChampionReference, RelationChange
from gatekeeper.metrics import metric
from gatekeeper.stats.bootstrap import PairedDelta
from gatekeeper.triage.tolerance import degradation_tolerance
from gatekeeper.vocabulary import Check, Effect

if TYPE_CHECKING:  # pandas loads only when permutation importance runs (not for compare-scores)
    import pandas as pd


def loss_since_gated(reference: ChampionReference | None, overall: PairedDelta | None) -> float | None:
    """How much the champion lost on the evaluation rows since it was gated (positive = worse), or None."""
    if reference is None or overall is None or reference.metric != overall.metric:
        return None
    if overall.champion is None:
        return None
    return metric(overall.metric).gain(reference.overall - overall.champion)


def recovery_checks(
    overall: PairedDelta,
    reference: ChampionReference | None,
    changes: list[RelationChange],
    config: PolicyConfig,
    better: bool = False,
) -> list[Check]:
    """When the candidate recovers less than `triage.min_recovery` of what the champion lost since it
    was gated: a reject, unless the evaluation rows say the candidate is clearly `better` than the
    champion (keeping a model the evidence says is worse is a wrong decision): then a person decides,
    told that part of the loss is a level shift the features cannot explain."""
    lost = loss_since_gated(reference, overall)
    if reference is None or lost is None or lost <= degradation_tolerance(config, reference.overall):
        return []
    if overall.candidate is None or overall.champion is None:
        return []
    recovered = metric(overall.metric).gain(overall.candidate - overall.champion) / lost
    if recovered >= config.triage.min_recovery:
        return []
    used = [r for r in changes if r.used_by_candidate]
    changed = ", ".join(f"{r.feature} (importance {r.champion:+.3f} -> {r.candidate:+.3f})" for r in used[:5])
    dropped = [r.feature for r in changes if not r.used_by_candidate]
    explained = f"Features whose relation to the target changed most: {changed or 'not measured'}" + (
        f"; the candidate does not use {', '.join(dropped[:5])} (its trainer dropped them)" if dropped else ""
    )
    story = (
        f"{overall.metric} was {reference.overall:.4f} when the champion was gated and is "
        f"{overall.champion:.4f} now; the candidate reaches {overall.candidate:.4f}, recovering "
        f"{recovered:.0%} of the loss (needs {config.triage.min_recovery:.0%})"
    )
    effect: Effect
    if better:  # keeping the model the evidence says is worse would be the wrong decision
        check, effect = "level_shift_beyond_features", "review"
        message = (
            f"{story}, yet it is clearly better than the champion on the same evaluation rows: part of "
            f"the loss is a level shift the features cannot explain. {explained}"
        )
        advice = (
            "promoting it recovers part of the loss (approve it); no retrain recovers the rest: add a "
            "feature that carries the shift (a time trend, a price or volume index)"
        )
    else:
        check, effect, message = "concept_drift_beyond_retraining", "reject", f"{story}. {explained}"
        advice = (
            "retraining on more of the same data will not close this gap: revisit the features (what "
            "now drives the target?) or the learning algorithm"
        )
    return [
        Check(
            check,
            effect,
            message,
            segment="overall",
            observed=recovered,
            threshold=config.triage.min_recovery,
            diagnosis="concept_drift_beyond_retraining",
            advice=advice,
        )
    ]


def as_context(check: Check) -> Check:
    """A triage finding about whether to retrain, for a candidate that exists already (trained elsewhere):
    the training cost is sunk, so a skip becomes a warning read as context; blocks stay blocks."""
    if check.effect != "skip":
        return check
    return replace(
        check,
        effect="warn",
        message="context: the candidate was trained elsewhere, so its cost is sunk and it is judged anyway; "
        f"for a retrain of its own the gate would have said: {check.message}",
        advice=None,
    )


def relation_changes(
    champion: Any,
    candidate: Any,
    frame: pd.DataFrame,
    config: GateConfig,
    champion_features: list[str],
    candidate_features: list[str],
    classes: list[Any] | None = None,
    max_rows: int = 5000,
) -> list[RelationChange]:
    """Per-feature permutation importance of champion and candidate on the same rows, largest change first.

    Any model the gate can score works (a native estimator or one loaded from MLflow in another flavor):
    the score is the negative log loss (classification, over `classes`) or RMSE of `model_outputs`.
    """
    from sklearn.inspection import permutation_importance

    sample = frame.sample(min(len(frame), max_rows), random_state=config.statistics.seed)
    y = sample[config.target]
    scoring = _scorer(config.task == "regression", list(classes or []))
    importances: dict[str, dict[str, float]] = {}
    for name, model, feats in (
        ("champion", champion, champion_features),
        ("candidate", candidate, candidate_features),
    ):
        result = permutation_importance(
            model, sample[feats], y, scoring=scoring, n_repeats=3, random_state=config.statistics.seed
        )
        importances[name] = {f: float(v) for f, v in zip(feats, result.importances_mean, strict=True)}
    # only what both models use explains a change in the world; a feature the candidate's trainer
    # dropped is listed as such (its importance there is 0 by absence, not because the world moved)
    both = sorted(set(importances["champion"]) & set(importances["candidate"]))
    rows = [RelationChange(f, importances["champion"][f], importances["candidate"][f]) for f in both]
    dropped = [
        RelationChange(f, importances["champion"][f], 0.0, used_by_candidate=False)
        for f in sorted(set(importances["champion"]) - set(importances["candidate"]))
    ]
    return sorted(rows, key=lambda r: -abs(r.change)) + dropped


def _scorer(regression: bool, classes: list[Any]) -> Any:
    """A permutation-importance scorer (higher is better) from the gate's own reading of model outputs."""
    import pandas as pd

    from gatekeeper.train.models import model_outputs

    def score(model: Any, X: pd.DataFrame, y: pd.Series) -> float:
        out = model_outputs(model, X, [] if regression else classes)
        if regression:
            return -float(np.sqrt(np.mean((np.asarray(y, dtype=float) - out) ** 2)))
        codes = pd.Index([str(c) for c in classes]).get_indexer(y.astype(str))
        known = codes >= 0
        p = np.clip(out[np.flatnonzero(known), codes[known]], 1e-15, 1.0)
        return float(np.mean(np.log(p)))

    return score
