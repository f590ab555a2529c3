"""Triage before training: is retraining warranted, and can the new labels be trusted?"""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger

from gatekeeper.compare.rows import PairedRows
from gatekeeper.config import GateConfig
from gatekeeper.data.tables import GateTables
from gatekeeper.findings import TriageFindings
from gatekeeper.train.models import TrainedModel, model_outputs
from gatekeeper.triage.degradation import degradation_checks
from gatekeeper.triage.labels import label_checks
from gatekeeper.vocabulary import Check
from tasks import gate_task


def _rows(config: GateConfig, frame: pd.DataFrame, champion: TrainedModel) -> PairedRows:
    outputs = model_outputs(champion.model, frame.reindex(columns=champion.features), champion.classes)
    y = frame[config.target].to_numpy()
    if config.task == "regression":
        return PairedRows.regression(y, outputs, None)
    return PairedRows.from_labels(y, outputs, None, champion.classes, config.positive_label)


@gate_task
def triage_retraining(
    config: GateConfig, tables: GateTables, champion: TrainedModel | None
) -> tuple[list[Check], TriageFindings]:
    """Score the champion on the new labels: degradation against its reference, and label quality."""
    logger = get_run_logger()
    if champion is None or not config.triage.enabled:
        logger.info("triage skipped: %s", "no champion yet" if champion is None else "disabled")
        return [], TriageFindings()
    batch = _rows(config, tables.new_labels, champion)
    checks, degradation = degradation_checks(tables.new_labels, batch, champion.reference, config)
    labels = []
    if config.task == "classification":
        trusted = _rows(config, tables.evaluation, champion)
        label_findings, labels = label_checks(
            tables.new_labels, batch, tables.evaluation, trusted, champion.features, config
        )
        checks += label_findings
    logger.info(
        "triage: champion degraded in %s; %d label finding(s)",
        [d.segment for d in degradation if d.degraded] or "no segment",
        sum(c.check.startswith("labels.") for c in checks),
    )
    return checks, TriageFindings(degradation, labels, champion.reference)
