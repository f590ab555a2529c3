"""MLflow tasks: the run's trail, the candidate's registration, the champion alias."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger

from gatekeeper.config import GateConfig
from gatekeeper.data.tables import GateTables, feature_columns
from gatekeeper.decide.decision import Decision, decision_to_json
from gatekeeper.errors import AliasMoved, GatekeeperError, ModelError, redact
from gatekeeper.registry import CHALLENGER, CHAMPION, candidates, client, custody, flavors, runs, versions
from gatekeeper.train.models import TrainedModel
from gatekeeper.triage.reference import model_rows, reference_of
from gatekeeper.vocabulary import Check
from tasks import gate_task, retry_if

# MLflow unreachable or briefly unavailable is retried, never a logic failure
REMOTE_RETRIES = {"retries": 2, "retry_delay_seconds": 3, "retry_condition_fn": retry_if(client.is_transient)}


@gate_task(**REMOTE_RETRIES)
def start_gate_run(config: GateConfig, tables: GateTables, flow_run_id: str | None) -> str:
    """Open the MLflow run that holds this gate run's params, data hashes and decision."""
    rows = {n: tables.n_evaluation if n == "evaluation" else len(tables.table(n)) for n in tables.hashes}
    frames = {
        name: (tables.table(name), tables.paths.get(name, name))
        for name in tables.hashes
        if not (name == "evaluation" and tables.lazy_evaluation is not None)  # on Dask: not one frame
    }
    run_id = runs.open_run(config, tables.hashes, rows, flow_run_id, frames)
    get_run_logger().info("MLflow run %s at %s", run_id, redact(config.resolved_tracking_uri))
    return run_id


@gate_task(**REMOTE_RETRIES)
def register_candidate(config: GateConfig, run_id: str, candidate: TrainedModel) -> TrainedModel:
    """Log the fitted candidate in the run and register it as a new version, alias `challenger`."""
    version = versions.register_model(config, run_id, candidate)
    get_run_logger().info("registered %s version %s (alias %s)", config.model_name, version, CHALLENGER)
    return replace(candidate, version=version)


def _probe(config: GateConfig, tables: GateTables) -> tuple[pd.DataFrame, list[Any], list[str]]:
    """What a registered model is checked on before scoring: a few evaluation rows, the data's classes,
    and the features a model without a signature or a gate record is given."""
    classes = (
        []
        if config.task == "regression"
        else flavors.data_classes(
            tables.train[config.target], tables.new_labels[config.target], tables.evaluation[config.target]
        )
    )
    sample = tables.evaluation.head(flavors.PROBE_ROWS)
    return sample, classes, feature_columns(config, tables.train)


@gate_task(**REMOTE_RETRIES)
def load_champion(config: GateConfig, tables: GateTables) -> TrainedModel | None:
    """The model version behind alias `champion` in its own flavor, or None (bootstrap)."""
    champion = versions.load_champion(config, *_probe(config, tables))
    logger = get_run_logger()
    if champion is None:
        logger.info("no %s alias on %s yet: this is a bootstrap run", CHAMPION, config.model_name)
    elif champion.custody:
        for problem in champion.custody:
            logger.warning("%s; its record is not used as the reference", problem)
    else:
        logger.info(
            "champion is %s version %s (flavor %s, %s)",
            config.model_name,
            champion.version,
            champion.flavor,
            f"{champion.record} by the gate" if champion.record else "no gate record: promoted by hand",
        )
    return champion


@gate_task(**REMOTE_RETRIES)
def load_model_version(config: GateConfig, tables: GateTables, version: str | None) -> TrainedModel:
    """Version `version` of the model (default: the one behind `champion`), loaded as the gate scores it."""
    if version is None:
        champion = versions.load_champion(config, *_probe(config, tables))
        if champion is None:
            raise ModelError(
                f"{config.model_name!r} has no {CHAMPION} alias in {config.resolved_tracking_uri}: name the "
                "version to adopt (--version)"
            )
        return champion
    return versions.load_version(config, version, *_probe(config, tables), require_columns=False)


@gate_task(**REMOTE_RETRIES)
def adopt_champion(config: GateConfig, tables: GateTables, champion: TrainedModel) -> TrainedModel:
    """Record a hand-promoted champion's performance on the evaluation rows as its reference (a run with
    reference.json, tags on the version), so triage can compare against it from now on."""
    logger = get_run_logger()
    frame = tables.evaluation
    reference = reference_of(frame, model_rows(config, frame, champion), config)
    if reference is None or champion.version is None:
        logger.warning(
            "could not adopt %s version %s: %s is undefined on the evaluation rows",
            config.model_name,
            champion.version,
            config.primary_metric,
        )
        return champion
    facts = {
        "evaluation": tables.paths.get("evaluation"),
        "evaluation_sha256": tables.hashes.get("evaluation"),
        "evaluation_rows": len(frame),
        "flavor": champion.flavor,
    }
    if tables.lazy_evaluation is not None:  # engine dask: measured on the sample held here
        facts["sampled_from_rows"] = tables.n_evaluation
    run_id = versions.adopt(config, champion.version, reference, facts)
    logger.info(
        "adopted %s version %s: %s %.4f on %d evaluation rows recorded as its reference (MLflow run %s)",
        config.model_name,
        champion.version,
        reference.metric,
        reference.overall,
        len(frame),
        run_id,
    )
    return replace(champion, reference=reference, record="adopted")


@gate_task(**REMOTE_RETRIES)
def resolve_candidate(config: GateConfig) -> candidates.CandidateRef:
    """Where the configured candidate URI points (read only): a clear error before any data is read."""
    ref = candidates.resolve_candidate(config, str(config.candidate))
    where = f"version {ref.version}" if ref.version else f"run {ref.run_id} (not yet registered)"
    get_run_logger().info("candidate %s is %s of %s", ref.uri, where, config.model_name)
    return ref


@gate_task(**REMOTE_RETRIES)
def load_candidate(
    config: GateConfig, tables: GateTables, run_id: str, ref: candidates.CandidateRef
) -> TrainedModel:
    """A candidate trained elsewhere: registered as a version of `model_name` if it is not one yet, alias
    `challenger`, loaded in its flavor and checked on a few evaluation rows. A model the gate cannot score
    stays registered, tagged with the reason, and the run fails with it."""
    version = candidates.register_external(config, ref, run_id)
    try:
        candidate = versions.load_version(config, version, *_probe(config, tables), label=ref.uri)
    except ModelError as exc:
        candidates.mark_unscoreable(config, version, str(exc))
        raise
    get_run_logger().info(
        "candidate %s: %s version %s, flavor %s, %d features",
        ref.uri,
        config.model_name,
        version,
        candidate.flavor,
        len(candidate.features),
    )
    return candidate


@gate_task(**REMOTE_RETRIES)
def apply_decision(config: GateConfig, decision: Decision) -> str:
    """Promote (move `champion`, keep `previous-champion`) or leave the champion; tag the candidate."""
    said = versions.apply_decision(config, decision)
    get_run_logger().info(said)
    return said


@gate_task(**REMOTE_RETRIES)
def record_decision(config: GateConfig, decision: Decision) -> dict[str, str]:
    """decision.json, segments, report, forest plot and metrics into the MLflow run; return links."""
    return runs.record_decision(config, decision)


@gate_task(**REMOTE_RETRIES)
def read_champion_version(config: GateConfig) -> str | None:
    """The version behind alias `champion` (no download), for runs that stop before loading it."""
    return versions.current_champion_version(config)


@gate_task(**REMOTE_RETRIES)
def recover_unfinished_move(config: GateConfig) -> list[Check]:
    """Complete or undo an alias move a killed run left half done, before judging against the champion."""
    found = custody.recover_before_gating(config.resolved_tracking_uri, config.model_name)
    for check in found:
        get_run_logger().warning(check.message)
    return found


@gate_task
def end_failed_run(config: GateConfig, run_id: str, error: str) -> None:
    """Mark the MLflow run of a gate run that failed as FAILED, with the error."""
    if not runs.end_failed_run(config, run_id, error):
        get_run_logger().warning(
            "could not end MLflow run %s: the registry is unreachable; the next gate run of %s ends it",
            run_id,
            config.model_name,
        )


@gate_task
def keep_decision_locally(config: GateConfig, decision: Decision, error: str) -> str:
    """A decision that was reached but could not be applied or recorded in the registry, kept in the
    workdir (decisions/unrecorded/) with the error, so it is never lost."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(config.workdir) / "decisions" / "unrecorded"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{config.model_name}-{stamp}-{(decision.mlflow_run_id or 'no-run')[:8]}.json"
    path.write_text(decision_to_json(decision))
    path.with_suffix(".error.txt").write_text(redact(error) + "\n")
    get_run_logger().error(
        "the decision %s (candidate %s) was reached but not applied or recorded in the registry: %s; "
        "kept at %s",
        decision.decision,
        decision.candidate_version,
        redact(error),
        path,
    )
    return str(path)


@contextmanager
def run_ended_on_failure(config: GateConfig, run_id: str) -> Iterator[None]:
    """Whatever fails inside, the MLflow run is ended (FAILED, with the error), never left RUNNING."""
    try:
        yield
    except Exception as exc:
        end_failed_run(config, run_id, f"{type(exc).__name__}: {exc}")
        raise


@contextmanager
def decision_kept_on_failure(config: GateConfig, decision: Decision) -> Iterator[None]:
    """Applying and recording a reached decision: if the registry fails, the decision is kept locally.
    A promotion refused on stale evidence is not such a failure: the registry recorded the decision
    and the refusal on the version, which a kept copy would later overwrite with "registry failed"."""
    try:
        yield
    except AliasMoved:
        raise
    except Exception as exc:
        path = keep_decision_locally(config, decision, f"{type(exc).__name__}: {exc}")
        if isinstance(exc, GatekeeperError):  # the one paragraph a person reads says where it is
            raise type(exc)(f"{exc}; the decision reached ({decision.decision}) is kept at {path}") from exc
        raise
