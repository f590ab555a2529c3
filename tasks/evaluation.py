"""Score champion and candidate on the same evaluation rows."""

from __future__ import annotations

import time

import numpy as np
from prefect import get_run_logger

from gatekeeper.config import GateConfig
from gatekeeper.data import GateTables
from gatekeeper.discovery import discover_regressions
from gatekeeper.models import TrainedModel
from gatekeeper.paired import PairedRows, compare_segment
from gatekeeper.policy import Evidence
from gatekeeper.stats import rows_where, segments_from_columns
from gatekeeper.training import predict_proba_aligned
from tasks import gate_task


@gate_task
def score_models(
    config: GateConfig, tables: GateTables, candidate: TrainedModel, champion: TrainedModel | None
) -> Evidence:
    """Primary and secondary metrics with paired bootstrap intervals: overall, per segment, per key."""
    logger = get_run_logger()
    frame = tables.evaluation
    classes = candidate.classes
    metrics = [config.primary_metric, *[m for m in config.secondary_metrics if m != config.primary_metric]]
    cand = predict_proba_aligned(candidate.model, frame[candidate.features], classes)
    champ = None
    if champion is not None:
        missing = [f for f in champion.features if f not in frame.columns]
        if missing:
            logger.warning("champion needs columns the evaluation data lacks: %s", missing)
        champ = predict_proba_aligned(champion.model, frame.reindex(columns=champion.features), classes)
    rows = PairedRows.from_labels(
        frame[config.target].to_numpy(), cand, champ, classes, config.positive_label
    )
    stats = config.statistics
    rng = np.random.default_rng(stats.seed)
    started = time.perf_counter()

    def compare(name, where, index):
        return compare_segment(
            name, where, rows.take(index), metrics, n_resamples=stats.n_resamples, rng=rng, bins=stats.bins
        )

    overall = compare("overall", {}, np.arange(len(frame)))
    segments = [
        compare(s.name, s.where, s.index) for s in segments_from_columns(frame, config.segment_columns)
    ]
    keys = [compare(k.name, k.where, rows_where(frame, k.where)) for k in config.key_segments]
    logger.info(
        "compared %d segments with %d paired resamples in %.1f s",
        len(segments) + len(keys),
        stats.n_resamples,
        time.perf_counter() - started,
    )
    discovered = []
    if champ is not None and config.discovery.enabled:
        features = [f for f in candidate.features if f in frame.columns]
        discovered = discover_regressions(frame, features, rows, config.primary_metric, config)
        confirmed = [d for d in discovered if d["confirmed"]]
        logger.info(
            "regression discovery: %d subgroups reported, %d confirmed on held-out rows",
            len(discovered),
            len(confirmed),
        )
    p = overall.primary
    lo, hi = p.interval(stats.confidence_level)
    logger.info(
        "overall %s on %d rows: champion %s, candidate %s, delta %s",
        config.primary_metric,
        p.n,
        _f(p.champion),
        _f(p.candidate),
        "n/a" if p.delta is None else f"{p.delta:+.4f} [{lo:+.4f}, {hi:+.4f}]",
    )
    return Evidence(
        model_name=config.model_name,
        primary_metric=config.primary_metric,
        champion_version=champion.version if champion else None,
        candidate_version=candidate.version,
        overall=overall,
        segments=segments,
        key_segments=keys,
        discovered=discovered,
    )


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
