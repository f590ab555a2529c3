"""The retraining gate: from a batch of new labels to promoted / rejected / blocked."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import yaml
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from gatekeeper.config import GateConfig
from gatekeeper.policy import Decision, Evidence, decide
from gatekeeper.serialize import jsonable
from tasks.data import load_tables, measure_drift, quarantine_batch, read_gate_config, validate_tables
from tasks.evaluation import score_models
from tasks.lock import model_lock
from tasks.publish import publish_for_review
from tasks.registry import (
    apply_decision,
    load_champion,
    read_champion_version,
    record_decision,
    register_candidate,
    start_gate_run,
)
from tasks.review import ask_reviewer, settle_review, waits_for_review
from tasks.training import train_candidate
from tasks.triage import triage_retraining


def _model_of(params: dict[str, Any]) -> str:
    config = params.get("config")
    if params.get("model_name"):
        return str(params["model_name"])
    if isinstance(config, str):  # a deployment passes the YAML's path
        try:
            with open(config) as fh:
                return str((yaml.safe_load(fh) or {}).get("model_name", "model"))
        except (OSError, yaml.YAMLError, AttributeError):
            return "model"
    return getattr(config, "model_name", None) or (config or {}).get("model_name", "model")


def _run_name() -> str:
    return f"gate-{_model_of(flow_run.parameters or {})}-{flow_run.scheduled_start_time:%Y-%m-%d-%H%M%S}"


@flow(name="retraining-gate", flow_run_name=_run_name, log_prints=False)
def retraining_gate(
    config: GateConfig | str, new_labels: str | None = None, model_name: str | None = None
) -> dict[str, Any]:
    """Gate one batch of new labels for one model; pause for a reviewer when the decision asks.

    `config` is a GateConfig or the path of its YAML; `new_labels` (a path or URL) replaces the
    config's batch, as a `gatekeeper.labels.arrived` event passes it; `model_name`, when given,
    must be the config's model.
    """
    config = read_gate_config(config, new_labels, model_name)
    with model_lock(config, "gate the new labels"):
        decision, links = gate_batch(config)
    if waits_for_review(config, decision):
        answer = ask_reviewer(config, decision)
        with model_lock(config, "record the review"):
            decision = settle_review(config, decision, answer)
            links = record_decision(config, decision)
        publish_for_review(config, decision, links)
    return jsonable(decision.to_dict())


def gate_batch(config: GateConfig) -> tuple[Decision, dict[str, str]]:
    """Validate, triage, train, register, score, decide, apply and publish (inside the model's lock)."""
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
    links = record_decision(config, decision)
    publish_for_review(config, decision, links)
    return decision, links
