"""Model versions and the champion alias: register or resolve a candidate, load any version in its own
flavor, adopt a hand-promoted champion, promote."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.decide.decision import Decision
from gatekeeper.errors import AliasMoved, RegistryNotFound
from gatekeeper.findings import ChampionReference
from gatekeeper.registry import CHALLENGER, CHAMPION, PROMOTING, runs
from gatekeeper.registry.client import alias_version, connect, quiet_mlflow_hints, registry_errors
from gatekeeper.registry.custody import examine
from gatekeeper.registry.flavors import open_model, scoreable
from gatekeeper.registry.moves import aliases_of, move, pause, promotion_lock
from gatekeeper.registry.records import signature_tags
from gatekeeper.registry.requirements import pip_requirements
from gatekeeper.registry.runs import champion_reference
from gatekeeper.report.markdown import reason_lines
from gatekeeper.serialize import jsonable
from gatekeeper.train.models import TrainedModel

logger = logging.getLogger(__name__)

REFERENCE_FILE = "reference.json"


def register_model(config: GateConfig, run_id: str, candidate: TrainedModel) -> str:
    """Log the fitted model in the run, register a new version, point `challenger` at it."""
    import mlflow.sklearn

    uri = config.resolved_tracking_uri
    client = connect(uri)
    with registry_errors(uri, "register the candidate"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model"
            # cloudpickle, not skops: custom trainers' objects must load without a trust list.
            # MLflow warns about pickle on every save; the choice is deliberate, so it is said here once.
            logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
            # explicit requirements: MLflow's inference imports the model in a subprocess (~4 s)
            with own_code_by_value(), quiet_mlflow_hints():
                mlflow.sklearn.save_model(
                    candidate.model,
                    str(path),
                    serialization_format="cloudpickle",
                    pip_requirements=pip_requirements(candidate.model),
                    signature=_signature(candidate),
                    input_example=candidate.example,
                    # served as it is judged: the scores the gate compared, not labels
                    pyfunc_predict_fn=_served(candidate.model),
                )
            client.log_artifacts(run_id, str(path), "model")
        client.log_metric(run_id, "train_rows", candidate.n_train)
        ensure_registered_model(client, config.model_name)
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


@contextlib.contextmanager
def own_code_by_value() -> Iterator[None]:
    """While saving: the gate's own functions and classes in a model (the default pipeline's text
    conversion) are pickled by value, so the model loads where this package is not installed."""
    import cloudpickle  # type: ignore[import-untyped]

    import gatekeeper

    global _by_value
    with _by_value_guard:  # a fleet saves models on several threads: registered while any saves
        if _by_value == 0:
            cloudpickle.register_pickle_by_value(gatekeeper)
        _by_value += 1
    try:
        yield
    finally:
        with _by_value_guard:
            _by_value -= 1
            if _by_value == 0:
                cloudpickle.unregister_pickle_by_value(gatekeeper)


_by_value = 0
_by_value_guard = threading.Lock()


def _signature(candidate: TrainedModel) -> Any:
    """The model's input and output schema, inferred from its example rows and its outputs on them."""
    from mlflow.models import infer_signature

    if candidate.example is None or not len(candidate.example):
        return None
    model = candidate.model
    try:
        signature = infer_signature(candidate.example, getattr(model, _served(model))(candidate.example))
    except Exception:  # a model that cannot score its own training rows is judged later, not here
        return None
    whole = [str(c) for c, t in candidate.example.dtypes.items() if pd.api.types.is_integer_dtype(t)]
    if whole:  # MLflow's own hint, said once and briefly: what a serving client must know
        logger.info(
            "signature: %s declared integer, as trained; a request with missing values there must send "
            "them as floats",
            ", ".join(whole),
        )
    return signature


def _served(model: Any) -> str:
    """What the logged model's pyfunc serves: the class scores the gate judged, else predictions."""
    return "predict_proba" if hasattr(model, "predict_proba") else "predict"


def ensure_registered_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Managed by the retraining gatekeeper.")


def _download(client: Any, uri: str, name: str, version: str) -> str:
    """The version's model folder, downloaded from where its artifacts are stored."""
    import mlflow.artifacts

    return str(
        mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(name, version), tracking_uri=uri
        )
    )


def load_version(
    config: GateConfig,
    version: str,
    sample: pd.DataFrame,
    classes: list[Any],
    default_features: list[str],
    *,
    require_columns: bool = True,
    label: str | None = None,
) -> TrainedModel:
    """Version `version` of `model_name` in its own flavor, checked on `sample` before scoring."""
    uri = config.resolved_tracking_uri
    client = connect(uri)
    name = config.model_name
    shown = label or f"models:/{name}/{version}"
    with registry_errors(uri, f"load {shown}"):
        mv = client.get_model_version(name, version)
        flavored = open_model(_download(client, uri, name, version), shown)
    tags = dict(mv.tags or {})
    model, features = scoreable(
        flavored,
        shown,
        config,
        classes,
        sample,
        default_features,
        gate_classes=json.loads(tags.get("gate.classes", "null")),
        gate_features=json.loads(tags.get("gate.features", "null")),
        require_columns=require_columns,
    )
    reference, record = None, None
    if tags.get("gate.reference_run_id"):
        record = "adopted"
        reference = adopted_reference(client, uri, tags["gate.reference_run_id"])
    elif tags.get("gate.mlflow_run_id"):
        record = "gated"
        reference = champion_reference(client, uri, tags["gate.mlflow_run_id"])
    return TrainedModel(
        model=model,
        features=features,
        classes=list(model.classes_),
        version=str(mv.version),
        reference=reference,
        flavor=flavored.flavor,
        record=record,
    )


def load_champion(
    config: GateConfig, sample: pd.DataFrame, classes: list[Any], default_features: list[str]
) -> TrainedModel | None:
    """The model version behind alias `champion`, loaded with its reference performance, or None."""
    uri = config.resolved_tracking_uri
    client = connect(uri)
    with registry_errors(uri, "read the champion alias"):
        mv = alias_version(client, config.model_name, CHAMPION)
    if mv is None:
        return None
    champion = load_version(
        config,
        str(mv.version),
        sample,
        classes,
        default_features,
        require_columns=False,
        label=f"models:/{config.model_name}@{CHAMPION} (version {mv.version})",
    )
    custody = examine(client, uri, config.model_name)
    first_contact = champion.record is None and custody["last_move"] is None
    if custody["ok"] or first_contact:  # a champion promoted by hand before the gate is adopted
        return champion
    # moved or edited outside the gate: its record is not evidence, and it is not silently adopted
    return dataclasses.replace(
        champion, reference=None, record="untrusted", custody=tuple(custody["problems"])
    )


def adopt(config: GateConfig, version: str, reference: ChampionReference, facts: dict[str, Any]) -> str:
    """Record `reference` as the champion's evidence: a run with reference.json, tags on the version.

    Returns the run's id. From then on the version is `adopted`: triage compares against it.
    """
    uri = config.resolved_tracking_uri
    client = connect(uri)
    name = config.model_name
    record = {"model_name": name, "version": version, **facts, "reference": dataclasses.asdict(reference)}
    text = json.dumps(jsonable(record), indent=2)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with registry_errors(uri, f"adopt version {version} of {name}"):
        exp_id = runs.experiment_id(client, config)
        run = client.create_run(
            exp_id,
            run_name=f"adopt-{name}-v{version}",
            tags={"gate.model_name": name, "gate.adopted_version": version},
        )
        run_id = str(run.info.run_id)
        client.log_text(run_id, text, REFERENCE_FILE)
        client.log_metric(run_id, f"reference.{reference.metric}", reference.overall)
        client.set_terminated(run_id, "FINISHED")
    tags = {"gate.adopted": "true", "gate.reference_run_id": run_id, "gate.reference_sha256": digest}
    tags |= signature_tags("reference", name, version, digest)
    with promotion_lock(uri, name):  # the log says the gate vouches for the aliases as they are
        current = aliases_of(client, uri, name)
        move(
            client,
            uri,
            name,
            version,
            kind="adopt",
            expected_champion=current.get(CHAMPION),
            evidence=digest,
            run_id=run_id,
            plan=current,
            tags={version: tags},
        )
    return run_id


def adopted_reference(client: Any, uri: str, run_id: str) -> ChampionReference | None:
    """The reference an adoption recorded (reference.json of its run), or None when unreadable."""
    try:
        with (
            registry_errors(uri, "read the adopted champion's reference"),
            tempfile.TemporaryDirectory() as tmp,
        ):
            path = client.download_artifacts(run_id, REFERENCE_FILE, tmp)
            data = json.loads(Path(path).read_text())
    except (RegistryNotFound, ValueError):
        return None
    ref = data.get("reference") if isinstance(data, dict) else None
    if not isinstance(ref, dict) or not isinstance(ref.get("overall"), int | float):
        return None
    return ChampionReference(
        metric=str(ref.get("metric")),
        overall=float(ref["overall"]),
        segments={str(k): float(v) for k, v in (ref.get("segments") or {}).items()},
        rows={str(k): (None if v is None else int(v)) for k, v in (ref.get("rows") or {}).items()},
    )


def current_champion_version(config: GateConfig) -> str | None:
    """The version behind alias `champion` (no download), or None."""
    uri = config.resolved_tracking_uri
    client = connect(uri)
    with registry_errors(uri, "read the champion alias"):
        mv = alias_version(client, config.model_name, CHAMPION)
    return None if mv is None else str(mv.version)


def promote(
    client: Any, uri: str, name: str, version: str, expected_champion: str | None, **journal: Any
) -> str | None:
    """Move `champion` to `version`, keep the old one as `previous-champion`; refuse stale evidence.

    Under the model's promotion lock, journaled (`moves`): the champion is re-read inside the lock,
    the intent written before the aliases move. Idempotent: a version that already is champion is left
    as it is. Returns the previous champion.
    """
    with promotion_lock(uri, name):
        return move(client, uri, name, version, expected_champion=expected_champion, **journal)


def version_tags(decision: Decision) -> dict[str, str]:
    """The decision's trail on the candidate's model version."""
    return {
        "gate.decision": decision.decision,
        "gate.reasons": reason_lines(decision.reasons)[:4900],
        "gate.flow_run_id": decision.prefect_flow_run_id or "",
        "gate.champion_version": decision.champion_version or "",
        "gate.mlflow_run_id": decision.mlflow_run_id or "",
    }


def apply_decision(config: GateConfig, decision: Decision) -> str:
    """Record the decision (decision.json, its hash on the version), tag the candidate, then promote or
    leave the champion where it is. Says what it did."""
    if decision.candidate_version is None:
        return "no candidate was registered"
    uri = config.resolved_tracking_uri
    client = connect(uri)
    name, version = config.model_name, decision.candidate_version
    pause("before-apply")
    tags = version_tags(decision)
    if decision.promotes:  # `promoted` once champion has moved (the move's journal writes it)
        tags["gate.decision"] = PROMOTING
    with registry_errors(uri, "apply the decision"):
        evidence = runs.log_decision(client, name, decision)
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)
    if not decision.promotes:
        return f"{CHAMPION} stays where it was; version {version} keeps alias {CHALLENGER}"
    try:
        previous = promote(
            client,
            uri,
            name,
            version,
            decision.champion_version,
            kind="promote",
            evidence=evidence,
            run_id=decision.mlflow_run_id or "",
            tags={version: {"gate.decision": decision.decision}},
        )
        if previous == version:  # champion already (a recover finished it): the move wrote no tags
            with registry_errors(uri, "record the promotion"):
                client.set_model_version_tag(name, version, "gate.decision", decision.decision)
    except AliasMoved as exc:  # the candidate's trail says it was not promoted, and why
        with registry_errors(uri, "record the refused promotion"):
            runs.mark_error(client, name, version, str(exc))
        raise
    return f"promoted version {version} to {CHAMPION} (previous: {previous})"
