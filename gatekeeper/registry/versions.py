"""Model versions and the champion alias: register a candidate, load the champion, promote."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from gatekeeper.config import GateConfig
from gatekeeper.decide.decision import Decision
from gatekeeper.errors import AliasMoved
from gatekeeper.registry import CHALLENGER, CHAMPION, PREVIOUS
from gatekeeper.registry.client import alias_version, connect, registry_errors
from gatekeeper.registry.runs import champion_reference
from gatekeeper.report.markdown import reason_lines
from gatekeeper.serialize import jsonable
from gatekeeper.train.models import TrainedModel

# Models pickled before the package was laid out by stage name functions by their old module
# (cloudpickle stores `gatekeeper.training.as_object_text` by reference): keep them loadable.
LEGACY_MODULES = {
    "gatekeeper.training": "gatekeeper.train.pipeline",
    "gatekeeper.simulate": "gatekeeper.demo.simulate",
}


def _alias_legacy_modules() -> None:
    import importlib

    for old, new in LEGACY_MODULES.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)


def register_model(config: GateConfig, run_id: str, candidate: TrainedModel) -> str:
    """Log the fitted model in the run, register a new version, point `challenger` at it."""
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException

    uri = config.resolved_tracking_uri
    client = connect(uri)
    with registry_errors(uri, "register the candidate"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model"
            # cloudpickle, not skops: custom trainers' objects must load without a trust list.
            # MLflow warns about pickle on every save; the choice is deliberate, so it is said here once.
            logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
            mlflow.sklearn.save_model(candidate.model, str(path), serialization_format="cloudpickle")
            client.log_artifacts(run_id, str(path), "model")
        client.log_metric(run_id, "train_rows", candidate.n_train)
        try:
            client.get_registered_model(config.model_name)
        except MlflowException:
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


def load_champion(config: GateConfig) -> TrainedModel | None:
    """The model version behind alias `champion`, loaded with its reference performance, or None."""
    import mlflow.artifacts
    import mlflow.sklearn

    uri = config.resolved_tracking_uri
    client = connect(uri)
    with registry_errors(uri, "load the champion"):
        mv = alias_version(client, config.model_name, CHAMPION)
        if mv is None:
            return None
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(config.model_name, mv.version),
            tracking_uri=uri,
        )
        _alias_legacy_modules()
        model = mlflow.sklearn.load_model(local)
        features = json.loads(mv.tags.get("gate.features", "null")) or list(
            getattr(model, "feature_names_in_", [])
        )
        classes = json.loads(mv.tags.get("gate.classes", "null"))
        if classes is None:
            classes = list(getattr(model, "classes_", []))
    reference = champion_reference(client, uri, mv.tags.get("gate.mlflow_run_id") or mv.run_id)
    return TrainedModel(
        model=model, features=features, classes=classes, version=str(mv.version), reference=reference
    )


def current_champion_version(config: GateConfig) -> str | None:
    """The version behind alias `champion` (no download), or None."""
    uri = config.resolved_tracking_uri
    client = connect(uri)
    with registry_errors(uri, "read the champion alias"):
        mv = alias_version(client, config.model_name, CHAMPION)
    return None if mv is None else str(mv.version)


def promote(client: Any, name: str, version: str, expected_champion: str | None) -> str | None:
    """Move `champion` to `version`, `previous-champion` to the old one; refuse stale evidence.

    Idempotent: a version that already is champion is left as it is. Returns the previous champion.
    """
    current = alias_version(client, name, CHAMPION)
    current_version = str(current.version) if current is not None else None
    if current_version == version:
        return current_version
    if current_version != expected_champion:
        raise AliasMoved(
            f"alias {CHAMPION} of {name} moved from version {expected_champion} to {current_version} since "
            f"the evidence was gathered; not promoting version {version} on stale evidence. "
            "Run the gate again."
        )
    if current_version is not None:
        client.set_registered_model_alias(name, PREVIOUS, current_version)
    client.set_registered_model_alias(name, CHAMPION, version)
    challenger = alias_version(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
    client.set_model_version_tag(name, version, "gate.previous_champion", current_version or "")
    return current_version


def version_tags(decision: Decision) -> dict[str, str]:
    """The decision's trail on the candidate's model version."""
    return {
        "gate.decision": decision.decision,
        "gate.reasons": reason_lines(decision.reasons)[:4900],
        "gate.flow_run_id": decision.prefect_flow_run_id or "",
        "gate.champion_version": decision.champion_version or "",
    }


def apply_decision(config: GateConfig, decision: Decision) -> str:
    """Promote, or leave the champion where it is; tag the candidate either way. Says what it did."""
    if decision.candidate_version is None:
        return "no candidate was registered"
    uri = config.resolved_tracking_uri
    client = connect(uri)
    name, version = config.model_name, decision.candidate_version
    with registry_errors(uri, "apply the decision"):
        said = f"{CHAMPION} stays where it was; version {version} keeps alias {CHALLENGER}"
        if decision.promotes:
            previous = promote(client, name, version, decision.champion_version)
            said = f"promoted version {version} to {CHAMPION} (previous: {previous})"
        for key, value in version_tags(decision).items():
            client.set_model_version_tag(name, version, key, value)
        return said
