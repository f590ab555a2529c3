"""The retraining gate: from a batch of new labels to promoted / rejected / blocked."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from gatekeeper.config import GateConfig
from gatekeeper.policy import Evidence, decide
from gatekeeper.serialize import jsonable
from tasks.data import load_tables, measure_drift, quarantine_batch, validate_tables
from tasks.evaluation import score_models
from tasks.publish import publish_for_review
from tasks.registry import (
    apply_decision,
    load_champion,
    read_champion_version,
    record_decision,
    register_candidate,
    start_gate_run,
)
from tasks.training import train_candidate
from tasks.triage import triage_retraining


def _run_name() -> str:
    params = flow_run.parameters or {}
    config = params.get("config")
    name = getattr(config, "model_name", None) or (config or {}).get("model_name", "model")
    return f"gate-{name}-{flow_run.scheduled_start_time:%Y-%m-%d-%H%M}"


@flow(name="retraining-gate", flow_run_name=_run_name, log_prints=False)
def retraining_gate(config: GateConfig) -> dict[str, Any]:
    """Validate, train, register, score, decide, apply and publish; return decision.json."""
    logger = get_run_logger()
    run_id = str(flow_run.id) if flow_run.id else None

    logger.info("[1/7] loading data")
    tables = load_tables(config)
    mlflow_run = start_gate_run(config, tables, run_id)

    logger.info("[2/7] validating training data and the new labels")
    checks = validate_tables(config, tables)
    drift = measure_drift(config, tables)
    champion, triage = None, {}
    if not any(c.failed_blocking for c in checks):
        logger.info("[3/7] triage: does the champion need retraining, can the labels be trusted?")
        champion = load_champion(config)
        found, triage = triage_retraining(config, tables, champion)
        checks = [*checks, *found]
    trail = {
        "champion_version": champion.version if champion else read_champion_version(config),
        "validation": checks,
        "drift": drift,
        "triage": triage,
        "mlflow_run_id": mlflow_run,
        "prefect_flow_run_id": run_id,
    }
    if any(c.failed_blocking and c.outcome == "block" for c in checks):
        where = quarantine_batch(config, tables, checks, (run_id or mlflow_run)[:8])
        evidence = Evidence(config.model_name, config.primary_metric, quarantine=where, **trail)
    elif any(c.failed_blocking for c in checks):  # triage: retraining would not help
        evidence = Evidence(config.model_name, config.primary_metric, **trail)
    else:
        logger.info("[4/7] training the candidate")
        candidate = train_candidate(config, tables)
        logger.info("[5/7] registering the candidate and scoring it against the champion on the same rows")
        candidate = register_candidate(config, mlflow_run, candidate)
        evidence = replace(score_models(config, tables, candidate, champion), **trail)

    logger.info("[6/7] deciding")
    decision = decide(evidence, config)
    apply_decision(config, decision)
    logger.info("[7/7] publishing the decision for review")
    record_decision(config, decision)
    publish_for_review(config, decision)
    return jsonable(decision.to_dict())
