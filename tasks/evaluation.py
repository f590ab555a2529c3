"""Score champion and candidate on the same evaluation rows."""

from __future__ import annotations

import time

from prefect import get_run_logger

from gatekeeper.comparison import gather_evidence
from gatekeeper.config import GateConfig
from gatekeeper.data import GateTables
from gatekeeper.models import TrainedModel
from gatekeeper.paired import PairedRows
from gatekeeper.policy import Evidence, loss_since_gated
from gatekeeper.training import model_outputs
from gatekeeper.triage import relation_changes
from tasks import gate_task


@gate_task
def score_models(
    config: GateConfig, tables: GateTables, candidate: TrainedModel, champion: TrainedModel | None
) -> Evidence:
    """Paired bootstrap comparisons overall, per segment and per key segment, and regression discovery."""
    logger = get_run_logger()
    frame = tables.evaluation
    classes = candidate.classes
    cand = model_outputs(candidate.model, frame[candidate.features], classes)
    champ = None
    if champion is not None:
        missing = [f for f in champion.features if f not in frame.columns]
        if missing:
            logger.warning("champion needs columns the evaluation data lacks: %s", missing)
        champ = model_outputs(champion.model, frame.reindex(columns=champion.features), classes)
    y = frame[config.target].to_numpy()
    if config.task == "regression":
        rows = PairedRows.regression(y, cand, champ)
    else:
        rows = PairedRows.from_labels(y, cand, champ, classes, config.positive_label)
    started = time.perf_counter()
    evidence = gather_evidence(
        frame,
        rows,
        config,
        model_name=config.model_name,
        champion_version=champion.version if champion else None,
        candidate_version=candidate.version,
        features=[f for f in candidate.features if f in frame.columns],
    )
    if champion is not None and champion.reference:
        evidence.reference = champion.reference
        lost = loss_since_gated(evidence)
        if lost is not None and lost > config.triage.max_degradation:
            evidence.relation_changes = relation_changes(
                champion.model, candidate.model, frame, config, champion.features, candidate.features
            )
    p = evidence.overall.primary if evidence.overall else None
    logger.info(
        "compared %d segments (%d paired resamples each) in %.1f s; %d discovered subgroups (%d confirmed)",
        len(evidence.segments) + len(evidence.key_segments),
        config.statistics.n_resamples,
        time.perf_counter() - started,
        len(evidence.discovered),
        sum(d["confirmed"] for d in evidence.discovered),
    )
    if p is not None and p.delta is not None:
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
    return evidence
