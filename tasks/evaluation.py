"""Score champion and candidate on the same evaluation rows."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
from prefect import get_run_logger

from gatekeeper.compare.discovery import discover_regressions
from gatekeeper.compare.segments import Comparison, compare_models
from gatekeeper.config import GateConfig
from gatekeeper.data.tables import GateTables
from gatekeeper.findings import RelationChange
from gatekeeper.metrics import Array
from gatekeeper.stats.rows import PairedRows
from gatekeeper.train.models import TrainedModel, check_unit_interval, model_outputs
from gatekeeper.triage.recovery import loss_since_gated, relation_changes
from gatekeeper.triage.reference import score_on
from gatekeeper.triage.tolerance import degradation_tolerance
from tasks import gate_task


def candidate_outputs(config: GateConfig, candidate: TrainedModel, frame: pd.DataFrame) -> Array:
    """The candidate's outputs on every evaluation row, checked as its probe rows were: a model that
    raises, or gives NaN, infinities or probabilities outside [0, 1] on some row past the probe is
    not scored; its version stays registered, tagged `gate.decision: error` with why."""
    from gatekeeper.errors import ModelError

    what = f"candidate version {candidate.version} of {config.model_name}"
    try:
        outputs = model_outputs(candidate.model, frame[candidate.features], candidate.classes)
        if candidate.classes:  # (a registered model's adapter checked its scores already)
            check_unit_interval(outputs, f"{what} on the {len(frame)} evaluation rows")
        elif not np.isfinite(outputs).all():
            rows = np.flatnonzero(~np.isfinite(outputs))
            raise ModelError(
                f"{what} gave non-finite values on {len(rows)} of {len(frame)} evaluation rows (first at "
                f"row {int(rows[0])}); the gate cannot compare it"
            )
    except Exception as exc:
        reason = (
            str(exc)
            if isinstance(exc, ModelError)
            else f"{what} failed on the evaluation rows: {type(exc).__name__}: {exc}"
        )
        if candidate.version is not None:
            from gatekeeper.registry import candidates as registered

            registered.mark_unscoreable(config, candidate.version, reason)
        raise ModelError(reason) from exc
    return outputs


@gate_task
def score_champion(config: GateConfig, tables: GateTables, champion: TrainedModel) -> Array:
    """The champion's outputs on the evaluation rows, scored once for triage and the comparison."""
    started = time.perf_counter()
    outputs = score_on(tables.evaluation, champion)
    get_run_logger().info(
        "scored champion version %s on %d %sevaluation rows in %.1f s",
        champion.version,
        len(tables.evaluation),
        "" if tables.lazy_evaluation is None else "sampled ",
        time.perf_counter() - started,
    )
    return outputs


@gate_task
def score_models(
    config: GateConfig,
    tables: GateTables,
    candidate: TrainedModel,
    champion: TrainedModel | None,
    champion_outputs: Array | None = None,
) -> Comparison:
    """Paired bootstrap comparisons overall, per segment and per key segment, and regression discovery.
    (`champion_outputs`: the champion's outputs on the evaluation rows from `score_champion`.)"""
    logger = get_run_logger()
    frame = tables.evaluation
    classes = candidate.classes
    cand = candidate_outputs(config, candidate, frame)
    champ = None
    if champion is not None:
        missing = [f for f in champion.features if f not in frame.columns]
        if missing:
            logger.warning("champion needs columns the evaluation data lacks: %s", missing)
        if champion_outputs is not None and [str(c) for c in champion.classes] == [str(c) for c in classes]:
            champ = champion_outputs  # scored in its classes' order, which are the candidate's
        else:
            champ = model_outputs(champion.model, frame.reindex(columns=champion.features), classes)
    y = frame[config.target].to_numpy()
    if config.task == "regression":
        rows = PairedRows.regression(y, cand, champ)
    else:
        rows = PairedRows.from_labels(y, cand, champ, classes, config.positive_label)
    if config.cluster_column and config.cluster_column in frame.columns:
        rows = rows.with_clusters(frame[config.cluster_column].to_numpy())
        clusters = int(np.unique(rows.clusters).size) if rows.clusters is not None else 0
        logger.info(
            "the paired bootstrap resamples %d clusters of %r, not rows", clusters, config.cluster_column
        )
    started = time.perf_counter()
    features = [f for f in candidate.features if f in frame.columns]
    if tables.lazy_evaluation is None:
        comparison = compare_models(frame, rows, config, features=features)
    else:
        comparison = _compare_on_dask(config, tables, candidate, champion, rows, features)
    logger.info(
        "compared %d segments (%d paired resamples each) in %.1f s; %d discovered subgroups (%d confirmed)",
        len(comparison.segments) + len(comparison.key_segments),
        config.statistics.n_resamples,
        time.perf_counter() - started,
        len(comparison.discovered),
        sum(d.confirmed for d in comparison.discovered),
    )
    p = comparison.overall.primary
    if p.delta is not None:
        lo, hi = p.interval(config.statistics.confidence_level)
        logger.info(
            "overall %s: champion %.4f, candidate %.4f, delta %+.4f [%+.4f, %+.4f]",
            config.primary_metric,
            p.champion,
            p.candidate,
            p.delta,
            lo,
            hi,
        )
    return comparison


def _compare_on_dask(
    config: GateConfig,
    tables: GateTables,
    candidate: TrainedModel,
    champion: TrainedModel | None,
    sampled: PairedRows,
    features: list[str],
) -> Comparison:
    """Every evaluation row compared on the Dask cluster; regression discovery (which needs rows, not
    sums) on the sampled rows held here."""
    from gatekeeper.decide.on_dask import compare_models_on_dask

    logger = get_run_logger()
    comparison = compare_models_on_dask(
        tables.lazy_evaluation, tables.n_evaluation, config, candidate, champion, logger.info
    )
    if features and champion is not None and config.discovery.enabled:
        logger.info("regression discovery on %d sampled evaluation rows", sampled.n)
        found = discover_regressions(tables.evaluation, features, sampled, config.primary_metric, config)
        comparison = replace(comparison, discovered=found)
    return comparison


@gate_task
def explain_relations(
    config: GateConfig,
    tables: GateTables,
    candidate: TrainedModel,
    champion: TrainedModel | None,
    comparison: Comparison,
) -> list[RelationChange]:
    """When the champion lost ground since it was gated: which features' relation to the target changed."""
    if champion is None:
        return []
    lost = loss_since_gated(champion.reference, comparison.overall.primary)
    if lost is None or champion.reference is None:
        return []
    if lost <= degradation_tolerance(config, champion.reference.overall):
        return []
    return relation_changes(
        champion.model,
        candidate.model,
        tables.evaluation,
        config,
        champion.features,
        candidate.features,
        candidate.classes,
    )
