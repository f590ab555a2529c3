"""Triage before training: is retraining warranted, and can the new labels be trusted?"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger

from gatekeeper.config import GateConfig
from gatekeeper.data import GateTables
from gatekeeper.models import TrainedModel
from gatekeeper.paired import PairedRows
from gatekeeper.policy import Check
from gatekeeper.training import model_outputs
from gatekeeper.triage import degradation_checks, label_checks
from tasks import gate_task


def _rows(config: GateConfig, frame, champion: TrainedModel) -> PairedRows:
    outputs = model_outputs(champion.model, frame.reindex(columns=champion.features), champion.classes)
    y = frame[config.target].to_numpy()
    if config.task == "regression":
        return PairedRows.regression(y, outputs, None)
    return PairedRows.from_labels(y, outputs, None, champion.classes, config.positive_label)


@gate_task
def triage_retraining(
    config: GateConfig, tables: GateTables, champion: TrainedModel | None
) -> tuple[list[Check], dict[str, Any]]:
    """Score the champion on the new labels: degradation against its reference, and label quality."""
    logger = get_run_logger()
    if champion is None or not config.triage.enabled:
        logger.info("triage skipped: %s", "no champion yet" if champion is None else "disabled")
        return [], {}
    batch = _rows(config, tables.new_labels, champion)
    checks, degradation = degradation_checks(tables.new_labels, batch, champion.reference, config)
    info: dict[str, Any] = {"degradation": degradation, "reference": champion.reference}
    if config.task == "classification":
        trusted = _rows(config, tables.evaluation, champion)
        label_findings, label_table = label_checks(
            tables.new_labels, batch, tables.evaluation, trusted, champion.features, config
        )
        checks += label_findings
        info["labels"] = label_table
    degraded = [d["segment"] for d in degradation if d["degraded"]]
    logger.info(
        "triage: champion degraded in %s; %d label finding(s)",
        degraded or "no segment",
        sum(c.check.startswith("labels.") for c in checks),
    )
    return checks, info
