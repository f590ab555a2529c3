"""Score champion and candidate on the same evaluation rows."""

from __future__ import annotations

import numpy as np
from prefect import get_run_logger

from gatekeeper.config import GateConfig
from gatekeeper.data import GateTables
from gatekeeper.models import TrainedModel
from gatekeeper.policy import Evidence
from gatekeeper.stats import compare_segment, rows_where, segments_from_columns
from gatekeeper.training import predict_proba_aligned
from tasks import gate_task


@gate_task
def score_models(
    config: GateConfig, tables: GateTables, candidate: TrainedModel, champion: TrainedModel | None
) -> Evidence:
    """Primary and secondary metrics, overall, per segment and per key segment."""
    logger = get_run_logger()
    frame = tables.evaluation
    y = frame[config.target].to_numpy()
    classes = candidate.classes
    metrics = [config.primary_metric, *[m for m in config.secondary_metrics if m != config.primary_metric]]
    cand = predict_proba_aligned(candidate.model, frame[candidate.features], classes)
    champ = None
    if champion is not None:
        missing = [f for f in champion.features if f not in frame.columns]
        if missing:
            logger.warning("champion needs columns the evaluation data lacks: %s", missing)
        champ = predict_proba_aligned(champion.model, frame.reindex(columns=champion.features), classes)

    def compare(name, where, index):
        return compare_segment(name, where, index, metrics, y, cand, champ, classes, config.positive_label)

    overall = compare("overall", {}, np.arange(len(frame)))
    segments = [
        compare(s.name, s.where, s.index) for s in segments_from_columns(frame, config.segment_columns)
    ]
    keys = [compare(k.name, k.where, rows_where(frame, k.where)) for k in config.key_segments]
    p = overall.primary
    logger.info(
        "overall %s on %d rows: champion %s, candidate %s",
        config.primary_metric,
        p.n,
        "n/a" if p.champion is None else f"{p.champion:.4f}",
        "n/a" if p.candidate is None else f"{p.candidate:.4f}",
    )
    return Evidence(
        model_name=config.model_name,
        primary_metric=config.primary_metric,
        champion_version=champion.version if champion else None,
        candidate_version=candidate.version,
        overall=overall,
        segments=segments,
        key_segments=keys,
    )
