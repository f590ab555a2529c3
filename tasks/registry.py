"""MLflow: the run's trail, the candidate's registration, the champion alias."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from prefect import get_run_logger

from gatekeeper.config import GateConfig
from gatekeeper.data import GateTables
from gatekeeper.errors import RegistryError
from gatekeeper.models import TrainedModel
from gatekeeper.policy import Decision
from gatekeeper.report import render_markdown, segments_csv
from gatekeeper.serialize import jsonable
from tasks import gate_task

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous-champion"
T = TypeVar("T")


def _client(config: GateConfig):
    from mlflow import MlflowClient

    uri = config.resolved_tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _registry_call(config: GateConfig, what: str, fn: Callable[[], T]) -> T:
    """Run an MLflow call; map its failures to RegistryError naming the server and the step."""
    try:
        return fn()
    except RegistryError:
        raise
    except Exception as exc:
        raise RegistryError(
            f"MLflow at {config.resolved_tracking_uri} failed to {what}: "
            f"{type(exc).__name__}: {str(exc)[:500]}"
        ) from exc


def is_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only connection trouble with a remote MLflow, never a logic failure."""
    try:
        state.result()
    except RegistryError as exc:
        cause = exc.__cause__
        text = f"{type(cause).__name__} {cause}"
        return any(s in text for s in ("ConnectionError", "Timeout", "503", "502", "TEMPORARILY"))
    except Exception:
        return False
    return False


_remote = {"retries": 2, "retry_delay_seconds": 3, "retry_condition_fn": is_transient}


def _flat_params(config: GateConfig) -> dict[str, str]:
    raw = config.model_dump(mode="json")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                out[f"{key}.{sub}"] = json.dumps(v) if not isinstance(v, str) else v
        else:
            out[key] = json.dumps(value) if not isinstance(value, str) else value
    return {k: v[:6000] for k, v in out.items()}


@gate_task(**_remote)
def start_gate_run(config: GateConfig, tables: GateTables, flow_run_id: str | None) -> str:
    """Open the MLflow run that holds this gate run's params, data hashes and decision."""
    from mlflow.entities import Param, RunTag

    logger = get_run_logger()
    client = _client(config)

    def create() -> str:
        exp = client.get_experiment_by_name(config.experiment_name)
        if exp is None:
            uri = config.resolved_tracking_uri
            location = (
                (Path(config.workdir) / "artifacts").resolve().as_uri()
                if uri.startswith(("sqlite:", "file:")) or "://" not in uri
                else None
            )
            exp_id = client.create_experiment(config.experiment_name, artifact_location=location)
        else:
            exp_id = exp.experiment_id
        run = client.create_run(
            exp_id,
            run_name=f"gate-{config.model_name}",
            tags={"gate.model_name": config.model_name, "gate.prefect_flow_run_id": str(flow_run_id or "")},
        )
        run_id = run.info.run_id
        params = _flat_params(config)
        params.update({f"data.{n}.sha256": h for n, h in tables.hashes.items()})
        params.update({f"data.{n}.rows": str(len(tables.table(n))) for n in tables.hashes})
        client.log_batch(
            run_id,
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(f"gate.data.{n}.sha256", h) for n, h in tables.hashes.items()],
        )
        client.log_text(run_id, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), "gate.yaml")
        return run_id

    run_id = _registry_call(config, "open a run", create)
    logger.info("MLflow run %s at %s", run_id, config.resolved_tracking_uri)
    return run_id


@gate_task(**_remote)
def register_candidate(config: GateConfig, run_id: str, candidate: TrainedModel) -> TrainedModel:
    """Log the fitted candidate in the run and register it as a new version, alias `challenger`."""
    import mlflow.sklearn

    logger = get_run_logger()
    client = _client(config)

    def register() -> str:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model"
            # cloudpickle, not skops: custom trainers' objects must load without a trust list.
            # MLflow warns about pickle on every save; the choice is deliberate, so say it once here.
            logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
            mlflow.sklearn.save_model(candidate.model, str(path), serialization_format="cloudpickle")
            client.log_artifacts(run_id, str(path), "model")
        client.log_metric(run_id, "train_rows", candidate.n_train)
        try:
            client.get_registered_model(config.model_name)
        except Exception:
            client.create_registered_model(
                config.model_name, description="Managed by the retraining gatekeeper."
            )
        version = client.create_model_version(
            config.model_name,
            source=f"runs:/{run_id}/model",
            run_id=run_id,
            tags={
                "gate.features": json.dumps(candidate.features),
                "gate.classes": json.dumps(jsonable(candidate.classes)),
                "gate.mlflow_run_id": run_id,
            },
        ).version
        client.set_registered_model_alias(config.model_name, CHALLENGER, version)
        return str(version)

    version = _registry_call(config, "register the candidate", register)
    logger.info("registered %s version %s (alias %s)", config.model_name, version, CHALLENGER)
    candidate.version = version
    return candidate


def _alias_version(client: Any, model_name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if "not found" in str(exc).lower() or getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


@gate_task(**_remote)
def load_champion(config: GateConfig) -> TrainedModel | None:
    """The model version behind alias `champion`, or None (bootstrap)."""
    import mlflow.artifacts
    import mlflow.sklearn

    logger = get_run_logger()
    client = _client(config)

    def load() -> TrainedModel | None:
        mv = _alias_version(client, config.model_name, CHAMPION)
        if mv is None:
            return None
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(config.model_name, mv.version),
            tracking_uri=config.resolved_tracking_uri,
        )
        model = mlflow.sklearn.load_model(local)
        features = json.loads(mv.tags.get("gate.features", "null")) or list(
            getattr(model, "feature_names_in_", [])
        )
        classes = json.loads(mv.tags.get("gate.classes", "null")) or list(model.classes_)
        return TrainedModel(model=model, features=features, classes=classes, version=str(mv.version))

    champion = _registry_call(config, "load the champion", load)
    if champion is None:
        logger.info("no %s alias on %s yet: this is a bootstrap run", CHAMPION, config.model_name)
    else:
        logger.info("champion is %s version %s", config.model_name, champion.version)
    return champion


@gate_task(**_remote)
def apply_decision(config: GateConfig, decision: Decision) -> None:
    """Promote (move `champion`, keep `previous-champion`) or leave the champion; tag the candidate."""
    logger = get_run_logger()
    if decision.candidate_version is None:
        return
    client = _client(config)
    name, version = config.model_name, decision.candidate_version

    def apply() -> None:
        current = _alias_version(client, name, CHAMPION)
        current_version = str(current.version) if current is not None else None
        if decision.promotes:
            if current_version == version:
                logger.info("version %s is already %s; nothing to move", version, CHAMPION)
            else:
                if current_version != decision.champion_version:
                    raise RegistryError(
                        f"alias {CHAMPION} of {name} moved from version {decision.champion_version} "
                        f"to {current_version} while the gate ran; not promoting version {version} "
                        "on stale evidence. Run the gate again."
                    )
                if current_version is not None:
                    client.set_registered_model_alias(name, PREVIOUS, current_version)
                client.set_registered_model_alias(name, CHAMPION, version)
                client.delete_registered_model_alias(name, CHALLENGER)
                logger.info(
                    "promoted %s version %s to %s (previous: %s)", name, version, CHAMPION, current_version
                )
            client.set_model_version_tag(name, version, "gate.previous_champion", current_version or "")
        for key, value in version_tags(decision).items():
            client.set_model_version_tag(name, version, key, value)

    _registry_call(config, "apply the decision", apply)


def version_tags(decision: Decision) -> dict[str, str]:
    reasons = "; ".join(
        f"{r['check']}{' [' + r['segment'] + ']' if r.get('segment') else ''}: {r['message']}"
        for r in decision.reasons
    )
    return {
        "gate.decision": decision.decision,
        "gate.reasons": reasons[:4900],
        "gate.flow_run_id": decision.prefect_flow_run_id or "",
        "gate.champion_version": decision.champion_version or "",
    }


@gate_task(**_remote)
def record_decision(config: GateConfig, decision: Decision) -> None:
    """decision.json, the segment CSV and metrics into the MLflow run; close the run."""
    from mlflow.entities import Metric, RunTag

    if decision.mlflow_run_id is None:
        return
    client = _client(config)
    run_id = decision.mlflow_run_id

    def record() -> None:
        client.log_text(run_id, json.dumps(jsonable(decision.to_dict()), indent=2), "decision.json")
        client.log_text(run_id, segments_csv(decision), "segments.csv")
        client.log_text(run_id, render_markdown(decision), "report.md")
        metrics = []
        for side in ("champion", "candidate", "delta"):
            value = (decision.overall or {}).get(side)
            if value is not None:
                metrics.append(
                    Metric(f"{side}.{decision.primary_metric}", float(value), int(time.time() * 1000), 0)
                )
        client.log_batch(
            run_id,
            metrics=metrics,
            tags=[
                RunTag("gate.decision", decision.decision),
                RunTag("gate.candidate_version", decision.candidate_version or ""),
            ],
        )
        client.set_terminated(run_id, "FINISHED")

    _registry_call(config, "record the decision", record)


def current_champion_version(config: GateConfig) -> str | None:
    """The version behind alias `champion`, or None (plain function, usable outside a flow)."""
    client = _client(config)
    mv = _registry_call(
        config, "read the champion alias", lambda: _alias_version(client, config.model_name, CHAMPION)
    )
    return None if mv is None else str(mv.version)
