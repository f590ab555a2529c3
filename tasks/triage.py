"""Triage before training: is retraining warranted, and can the new labels be trusted?"""

from __future__ import annotations

from prefect import get_run_logger

from gatekeeper.config import GateConfig
from gatekeeper.data.tables import GateTables, feature_columns
from gatekeeper.findings import TriageFindings
from gatekeeper.metrics import Array
from gatekeeper.train.models import TrainedModel
from gatekeeper.triage.degradation import degradation_checks
from gatekeeper.triage.labels import label_checks
from gatekeeper.triage.numeric_labels import numeric_label_checks
from gatekeeper.triage.recovery import as_context
from gatekeeper.triage.reference import model_rows
from gatekeeper.triage.value import learning_curve, value_check
from gatekeeper.vocabulary import Check
from tasks import gate_task, in_fleet


@gate_task
def triage_retraining(
    config: GateConfig,
    tables: GateTables,
    champion: TrainedModel | None,
    candidate_exists: bool = False,
    on_evaluation: Array | None = None,
) -> tuple[list[Check], TriageFindings]:
    """Score the champion on the new labels: degradation against its reference, and label quality.
    (`on_evaluation`: the champion's outputs on the evaluation rows, if already scored.)

    With `candidate_exists` (a candidate trained elsewhere) the cost of retraining is sunk: whether to
    retrain is moot, so those findings are context (warn) and the learning curve is not run; label-quality
    findings still block.
    """
    logger = get_run_logger()
    if champion is None or not config.triage.enabled:
        logger.info("triage skipped: %s", "no champion yet" if champion is None else "disabled")
        return [], TriageFindings()
    batch = model_rows(config, tables.new_labels, champion)
    checks, degradation = degradation_checks(tables.new_labels, batch, champion.reference, config)
    labels = []
    trusted = model_rows(config, tables.evaluation, champion, on_evaluation)  # the champion there
    if config.task == "classification":
        label_findings, labels = label_checks(
            tables.new_labels, batch, tables.evaluation, trusted, champion.features, config
        )
        checks += label_findings
    elif config.task == "regression":
        checks += numeric_label_checks(
            tables.new_labels, batch, tables.evaluation, trusted, config, champion.features
        )
    logger.info(
        "triage: champion degraded in %s; %d label finding(s)",
        [d.segment for d in degradation if d.degraded] or "no segment",
        sum(c.check.startswith("labels.") for c in checks),
    )
    value = None
    if candidate_exists:
        checks = [as_context(c) for c in checks]
        return checks, TriageFindings(degradation, labels, champion.reference, value)
    skip = next((c for c in checks if c.check == "triage.no_degradation"), None)
    if skip is not None and config.triage.learning_curve and not any(c.effect == "block" for c in checks):
        logger.info("no degradation: estimating what %d new labels are worth (learning curve)", batch.n)
        features = feature_columns(config, tables.train)
        value = learning_curve(
            tables.train,
            tables.evaluation,
            batch.n,
            features,
            config,
            logger.info,
            1 if in_fleet() else None,
            new_labels=tables.new_labels,
            champion=trusted,
        )
        if value is not None:
            checks = [c for c in checks if c is not skip] + [value_check(value, skip)]
            logger.info("%s", checks[-1].message)
    return checks, TriageFindings(degradation, labels, champion.reference, value)
