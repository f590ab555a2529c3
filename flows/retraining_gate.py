"""The retraining gate: from a batch of new labels to promoted / rejected / blocked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Completed

from gatekeeper.config import GateConfig
from gatekeeper.data.tables import GateTables
from gatekeeper.decide.decision import Decision, Evidence, with_comparison
from gatekeeper.decide.policy import decide
from gatekeeper.errors import redact_log_records
from gatekeeper.findings import TriageFindings
from gatekeeper.registry.candidates import CandidateRef
from gatekeeper.registry.custody import custody_checks
from gatekeeper.report.events import state_name
from gatekeeper.vocabulary import Check
from tasks.compute import compute_engine
from tasks.data import load_tables, measure_drift, quarantine_batch, read_gate_config, validate_tables
from tasks.evaluation import explain_relations, score_champion, score_models
from tasks.lock import model_lock
from tasks.publish import GateProgress, announce_decision, publish_for_review
from tasks.registry import (
    adopt_champion,
    apply_decision,
    decision_kept_on_failure,
    load_candidate,
    load_champion,
    read_champion_version,
    record_decision,
    recover_unfinished_move,
    register_candidate,
    resolve_candidate,
    run_ended_on_failure,
    start_gate_run,
)
from tasks.review import ask_reviewer, settle_review, waits_for_review
from tasks.training import train_candidate
from tasks.triage import triage_retraining

redact_log_records()  # a password in a tracking URI never reaches a log line or Prefect's stored logs


def run_name_of(parameters: dict[str, Any]) -> str:
    """The model a run gates, from its parameters alone: `model_name`, else the config's."""
    config = parameters.get("config")
    if parameters.get("model_name"):
        return str(parameters["model_name"])
    if isinstance(config, GateConfig):
        return config.model_name
    if isinstance(config, dict) and config.get("model_name"):
        return str(config["model_name"])
    return f"config-{Path(str(config)).stem}" if config else "model"


def _run_name() -> str:
    return f"gate-{run_name_of(flow_run.parameters or {})}-{flow_run.scheduled_start_time:%Y-%m-%d-%H%M%S}"


@flow(name="retraining-gate", flow_run_name=_run_name, log_prints=False)
def retraining_gate(
    config: GateConfig | str,
    new_labels: str | None = None,
    model_name: str | None = None,
    candidate: str | None = None,
) -> Decision:
    """Gate one batch of new labels for one model; pause for a reviewer when the decision asks.

    `config` is a GateConfig or the path of its YAML; `new_labels` (a path or URL) replaces the
    config's batch, as a `gatekeeper.labels.arrived` event passes it; `model_name`, when given,
    must be the config's model; `candidate` (an MLflow model URI: models:/NAME/VERSION,
    models:/NAME@ALIAS or runs:/RUN_ID/PATH) is a model trained elsewhere to judge instead of
    training one, as a `gatekeeper.model_version.created` event passes it.
    """
    config = read_gate_config(config, new_labels, model_name, candidate)
    with model_lock(config, "gate the new labels"), compute_engine(config):
        decision = gate_batch(config)
    if waits_for_review(config, decision):
        announce_decision(config, decision)  # waiting for a person: what an automation tells them
        answer = ask_reviewer(config, decision)
        with model_lock(config, "record the review"):
            decision = settle_review(config, decision, answer)
            links = record_decision(config, decision)
        publish_for_review(config, decision, links)
    announce_decision(config, decision)
    return finished(decision)


def finished(decision: Decision) -> Decision:
    """The run ends Completed, named after the decision (`Promoted`, `Rejected`, `Blocked`, ...), so
    the runs list tells decisions apart; calling the flow still returns the decision (Prefect ends a
    flow run in the state its function returns, and hands back that state's data)."""
    state = Completed(name=state_name(decision), message=decision.summary(), data=decision)
    return cast(Decision, state)


def gate_batch(config: GateConfig, settle: bool = True) -> Decision:
    """Validate, triage, train (or take the candidate given), register, score, decide, apply and publish
    (inside the model's lock). Without `settle` the decision is reached and returned, nothing applied:
    a fleet settles its models' decisions together (`settle_batch`), after controlling them across it."""
    run_id = str(flow_run.id) if flow_run.id else None
    external = resolve_candidate(config) if config.candidate else None

    progress = GateProgress(config)
    progress.stage(1, "loading data")
    tables = load_tables(config)
    mlflow_run = start_gate_run(config, tables, run_id)
    with run_ended_on_failure(config, mlflow_run):
        decision = judge_batch(config, tables, mlflow_run, run_id, external, progress)
        return settle_batch(config, decision, progress) if settle else decision


def settle_batch(config: GateConfig, decision: Decision, progress: GateProgress | None = None) -> Decision:
    """Apply a reached decision (promote, or leave the champion), record it and publish it for review."""
    progress = progress or GateProgress(config)
    with decision_kept_on_failure(config, decision):
        apply_decision(config, decision)
        progress.stage(7, "publishing the decision for review")
        links = record_decision(config, decision)
    publish_for_review(config, decision, links)
    progress.done(decision)
    return decision


def judge_batch(
    config: GateConfig,
    tables: GateTables,
    mlflow_run: str,
    run_id: str | None,
    external: CandidateRef | None,
    progress: GateProgress,
) -> Decision:
    """Everything after the MLflow run is open, up to the decision (which `settle_batch` applies)."""
    progress.stage(2, "validating training data and the new labels")
    checks: list[Check] = [*recover_unfinished_move(config), *validate_tables(config, tables)]
    drift = measure_drift(config, tables)
    champion, triage, adopted = None, TriageFindings(), False
    champion_outputs = None
    if not any(c.stops for c in checks):
        progress.stage(3, "triage: does the champion need retraining, can the labels be trusted?")
        champion = load_champion(config, tables)
        if champion is not None and champion.needs_adoption:
            champion = adopt_champion(config, tables, champion)
            adopted = champion.record == "adopted"
        checks = [*checks, *custody_checks(champion)]
        if champion is not None:
            champion_outputs = score_champion(config, tables, champion)
        found, triage = triage_retraining(
            config, tables, champion, candidate_exists=external is not None, on_evaluation=champion_outputs
        )
        checks = [*checks, *found]
    evidence = Evidence(
        config.model_name,
        config.primary_metric,
        champion_version=champion.version if champion else read_champion_version(config),
        checks=checks,
        drift=drift,
        triage=triage,
        reference=triage.reference,
        mlflow_run_id=mlflow_run,
        prefect_flow_run_id=run_id,
    )
    if any(c.effect == "block" for c in checks):
        try:
            evidence = replace(
                evidence, quarantine=quarantine_batch(config, tables, checks, (run_id or mlflow_run)[:8])
            )
        except OSError as exc:  # the decision is recorded all the same; the batch was never touched
            failed = Check(
                "quarantine.failed",
                "warn",
                f"the blocked batch could not be copied to {config.resolved_quarantine_dir} ({exc}); it "
                f"stays where it was, unchanged: {config.data.new_labels}",
            )
            evidence = replace(evidence, checks=[*evidence.checks, failed])
    elif not any(c.stops for c in checks):
        if external is not None:
            progress.stage(4, "taking the candidate trained elsewhere: %s", external.uri)
            candidate = load_candidate(config, tables, mlflow_run, external)
        else:
            progress.stage(4, "training the candidate")
            candidate = register_candidate(config, mlflow_run, train_candidate(config, tables))
        progress.stage(
            5, "scoring candidate version %s against the champion on the same rows", candidate.version
        )
        comparison = score_models(config, tables, candidate, champion, champion_outputs)
        changes = explain_relations(config, tables, candidate, champion, comparison)
        evidence = replace(
            with_comparison(evidence, comparison),
            candidate_version=candidate.version,
            relation_changes=changes,
        )

    progress.stage(6, "deciding")
    return replace(
        decide(evidence, config),
        champion_adopted=adopted,
        candidate_source=external.uri if external is not None else None,
    )
