"""The MLflow registry and tracking trail, as plain functions (no Prefect; MLflow imported lazily).

Tasks wrap these for the flow; the CLI's `approve` / `reject` call them directly.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gatekeeper.config import GateConfig
from gatekeeper.errors import RegistryError
from gatekeeper.models import TrainedModel
from gatekeeper.policy import Decision
from gatekeeper.report import reason_text, render_markdown, segments_csv
from gatekeeper.serialize import jsonable

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")

CHAMPION, CHALLENGER, PREVIOUS, ROLLED_BACK = "champion", "challenger", "previous-champion", "rolled-back"
T = TypeVar("T")


def client_for(uri: str):
    from mlflow import MlflowClient

    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def registry_call(uri: str, what: str, fn: Callable[[], T]) -> T:
    """Run MLflow calls; map their failures to RegistryError naming the server and the step."""
    try:
        return fn()
    except RegistryError:
        raise
    except Exception as exc:
        raise RegistryError(
            f"MLflow at {uri} failed to {what}: {type(exc).__name__}: {str(exc)[:500]}"
        ) from exc


def is_transient(error: BaseException) -> bool:
    """Connection trouble with a remote MLflow (worth a retry), not a logic failure."""
    if not isinstance(error, RegistryError):
        return False
    cause = error.__cause__
    text = f"{type(cause).__name__} {cause}"
    return any(s in text for s in ("ConnectionError", "Timeout", "503", "502", "TEMPORARILY"))


def alias_version(client: Any, model_name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if "not found" in str(exc).lower() or getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def _flat_params(config: GateConfig) -> dict[str, str]:
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else key, sub)
        else:
            out[prefix] = value if isinstance(value, str) else json.dumps(value)

    walk("", config.model_dump(mode="json"))
    return {k: v[:6000] for k, v in out.items()}


def open_run(
    config: GateConfig, hashes: dict[str, str], rows: dict[str, int], flow_run_id: str | None
) -> str:
    """Create the MLflow run of one gate run: every config key, data hashes and sizes, gate.yaml."""
    from mlflow.entities import Param, RunTag

    uri = config.resolved_tracking_uri
    client = client_for(uri)

    def create() -> str:
        exp = client.get_experiment_by_name(config.experiment_name)
        if exp is None:
            local = uri.startswith(("sqlite:", "file:")) or "://" not in uri
            location = (Path(config.workdir) / "artifacts").resolve().as_uri() if local else None
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
        params.update({f"data.{n}.sha256": h for n, h in hashes.items()})
        params.update({f"data.{n}.rows": str(r) for n, r in rows.items()})
        client.log_batch(
            run_id,
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(f"gate.data.{n}.sha256", h) for n, h in hashes.items()],
        )
        client.log_text(run_id, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), "gate.yaml")
        return run_id

    return registry_call(uri, "open a run", create)


def register_model(config: GateConfig, run_id: str, candidate: TrainedModel) -> str:
    """Log the fitted model in the run, register a new version, point `challenger` at it."""
    import mlflow.sklearn

    uri = config.resolved_tracking_uri
    client = client_for(uri)

    def register() -> str:
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

    return registry_call(uri, "register the candidate", register)


def load_champion(config: GateConfig) -> TrainedModel | None:
    """The model version behind alias `champion`, loaded, or None."""
    import mlflow.artifacts
    import mlflow.sklearn

    uri = config.resolved_tracking_uri
    client = client_for(uri)

    def load() -> TrainedModel | None:
        mv = alias_version(client, config.model_name, CHAMPION)
        if mv is None:
            return None
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(config.model_name, mv.version),
            tracking_uri=uri,
        )
        model = mlflow.sklearn.load_model(local)
        features = json.loads(mv.tags.get("gate.features", "null")) or list(
            getattr(model, "feature_names_in_", [])
        )
        classes = json.loads(mv.tags.get("gate.classes", "null"))
        if classes is None:
            classes = list(getattr(model, "classes_", []))
        reference = _reference_performance(client, mv.tags.get("gate.mlflow_run_id") or mv.run_id)
        return TrainedModel(
            model=model, features=features, classes=classes, version=str(mv.version), reference=reference
        )

    return registry_call(uri, "load the champion", load)


def _reference_performance(client: Any, run_id: str | None) -> dict[str, Any] | None:
    """What the champion scored on its own evaluation rows when it was gated (its decision.json)."""
    if not run_id:
        return None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, "decision.json", tmp)
            decision = json.loads(Path(path).read_text())
    except Exception:  # a champion registered by hand has no gate record: triage then has no reference
        return None
    overall = (decision.get("overall") or {}).get("candidate")
    if overall is None:
        return None
    segments = {
        s["segment"]: s["candidate"]
        for s in decision.get("segments", [])
        if s.get("candidate") is not None and s.get("status") not in ("insufficient_data", "undefined")
    }
    rows = {s["segment"]: s.get("n") for s in decision.get("segments", [])}
    rows["overall"] = (decision.get("overall") or {}).get("n")
    return {"metric": decision.get("primary_metric"), "overall": overall, "segments": segments, "rows": rows}


def current_champion_version(config: GateConfig) -> str | None:
    uri = config.resolved_tracking_uri
    client = client_for(uri)
    mv = registry_call(
        uri, "read the champion alias", lambda: alias_version(client, config.model_name, CHAMPION)
    )
    return None if mv is None else str(mv.version)


def _promote(client: Any, name: str, version: str, expected_champion: str | None) -> str | None:
    """Move `champion` to `version`, `previous-champion` to the old one; refuse stale evidence."""
    current = alias_version(client, name, CHAMPION)
    current_version = str(current.version) if current is not None else None
    if current_version == version:
        return current_version
    if current_version != expected_champion:
        raise RegistryError(
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
    reasons = "; ".join(reason_text(r) for r in decision.reasons)
    return {
        "gate.decision": decision.decision,
        "gate.reasons": reasons[:4900],
        "gate.flow_run_id": decision.prefect_flow_run_id or "",
        "gate.champion_version": decision.champion_version or "",
    }


def apply_decision(config: GateConfig, decision: Decision) -> str:
    """Promote, or leave the champion where it is; tag the candidate either way. Says what it did."""
    if decision.candidate_version is None:
        return "no candidate was registered"
    uri = config.resolved_tracking_uri
    client = client_for(uri)
    name, version = config.model_name, decision.candidate_version

    def apply() -> str:
        said = f"{CHAMPION} stays where it was; version {version} keeps alias {CHALLENGER}"
        if decision.promotes:
            previous = _promote(client, name, version, decision.champion_version)
            said = f"promoted version {version} to {CHAMPION} (previous: {previous})"
        for key, value in version_tags(decision).items():
            client.set_model_version_tag(name, version, key, value)
        return said

    return registry_call(uri, "apply the decision", apply)


FOREST_PLOT = "segment_forest.png"


def web_links(uri: str, experiment_id: str | None, run_id: str | None, model: str, version: str | None):
    """Browser links into the MLflow UI (only when MLflow is a server; a sqlite file has no pages)."""
    if not uri.startswith(("http://", "https://")):
        return {}
    base = uri.rstrip("/")
    links = {}
    if run_id and experiment_id:
        links["MLflow run"] = f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
        links["segment forest plot"] = f"{base}/get-artifact?path={FOREST_PLOT}&run_uuid={run_id}"
    if version:
        links["MLflow model version"] = f"{base}/#/models/{model}/versions/{version}"
    return links


def record_decision(config: GateConfig, decision: Decision) -> dict[str, str]:
    """decision.json, segments.csv, report.md, the forest plot and metrics into the run; close it.

    Returns where a person finds them: MLflow UI links on a server, artifact paths otherwise.
    """
    from mlflow.entities import Metric, RunTag

    from gatekeeper.plots import forest_plot
    from gatekeeper.stats import HIGHER_IS_BETTER

    uri = config.resolved_tracking_uri
    if decision.mlflow_run_id is None:
        return {}
    client = client_for(uri)
    run_id = decision.mlflow_run_id

    def record() -> dict[str, str]:
        run = client.get_run(run_id)
        links = web_links(
            uri, run.info.experiment_id, run_id, config.model_name, decision.candidate_version
        ) or {"MLflow run": run_id, "MLflow artifacts": run.info.artifact_uri}
        client.log_text(run_id, json.dumps(jsonable(decision.to_dict()), indent=2), "decision.json")
        client.log_text(run_id, segments_csv(decision), "segments.csv")
        client.log_text(run_id, render_markdown(decision), "report.md")
        picture = forest_plot(decision, HIGHER_IS_BETTER[decision.primary_metric])
        if picture is None:
            links.pop("segment forest plot", None)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / FOREST_PLOT
                path.write_bytes(picture)
                client.log_artifact(run_id, str(path))
            links.setdefault("segment forest plot", f"{run.info.artifact_uri}/{FOREST_PLOT}")
        now = int(time.time() * 1000)
        overall = decision.overall or {}
        metrics = [
            Metric(f"{k}.{decision.primary_metric}", float(overall[k]), now, 0)
            for k in ("champion", "candidate", "delta", "ci_low", "ci_high")
            if overall.get(k) is not None
        ]
        client.log_batch(
            run_id,
            metrics=metrics,
            tags=[
                RunTag("gate.decision", decision.decision),
                RunTag("gate.candidate_version", decision.candidate_version or ""),
            ],
        )
        client.set_terminated(run_id, "FINISHED")
        return links

    return registry_call(uri, "record the decision", record)


def settle_review(
    uri: str, model_name: str, version: str, *, approve: bool, comment: str = "", reviewer: str | None = None
) -> tuple[str, dict[str, str]]:
    """A person's answer to a `needs_review` decision, recorded on the version (and its run).

    Returns what was done, in words, and the review record (outcome, reviewer, comment, at).
    """
    client = client_for(uri)
    reviewer = reviewer or os.environ.get("GATEKEEPER_REVIEWER") or getpass.getuser()

    def settle() -> tuple[str, dict[str, str]]:
        from mlflow.exceptions import MlflowException

        try:
            mv = client.get_model_version(model_name, version)
        except MlflowException:
            raise RegistryError(f"{model_name} has no version {version!r} in the registry at {uri}") from None
        state = mv.tags.get("gate.decision")
        if state != "needs_review":
            raise RegistryError(
                f"{model_name} version {version} is not waiting for review (its gate decision is "
                f"{state!r}); only a `needs_review` candidate can be approved or rejected"
            )
        review = {
            "outcome": "approved" if approve else "rejected",
            "reviewer": reviewer,
            "comment": comment,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        said = f"rejected version {version}; {CHAMPION} stays"
        if approve:
            expected = mv.tags.get("gate.champion_version") or None
            previous = _promote(client, model_name, version, expected)
            said = f"approved: version {version} is {CHAMPION} (previous: {previous})"
        tags = {
            "gate.decision": "promoted" if approve else "rejected",
            "gate.review": review["outcome"],
            "gate.reviewer": reviewer,
            "gate.review_comment": comment[:4900],
            "gate.reviewed_at": review["at"],
        }
        for key, value in tags.items():
            client.set_model_version_tag(model_name, version, key, value)
        run_id = mv.tags.get("gate.mlflow_run_id") or mv.run_id
        if run_id:
            client.log_text(run_id, json.dumps(review, indent=2), "review.json")
            client.set_tag(run_id, "gate.review", review["outcome"])
        return said, review

    return registry_call(uri, "record the review", settle)


def review_of(uri: str, model_name: str, version: str) -> dict[str, str] | None:
    """The review already recorded on a version (say, from the command line), or None."""
    client = client_for(uri)

    def read() -> dict[str, str] | None:
        tags = client.get_model_version(model_name, version).tags
        if not tags.get("gate.review"):
            return None
        return {
            "outcome": tags["gate.review"],
            "reviewer": tags.get("gate.reviewer", ""),
            "comment": tags.get("gate.review_comment", ""),
            "at": tags.get("gate.reviewed_at", ""),
        }

    return registry_call(uri, "read the version's review", read)


def rollback(uri: str, model_name: str, *, reason: str, who: str | None = None) -> dict[str, Any]:
    """Move `champion` back to `previous-champion`; the demoted version keeps alias `rolled-back`."""
    client = client_for(uri)
    who = who or os.environ.get("GATEKEEPER_REVIEWER") or getpass.getuser()

    def move() -> dict[str, Any]:
        current = alias_version(client, model_name, CHAMPION)
        previous = alias_version(client, model_name, PREVIOUS)
        if current is None or previous is None:
            raise RegistryError(
                f"{model_name} has no {CHAMPION if current is None else PREVIOUS} alias in the "
                f"registry at {uri}: nothing to roll back to"
            )
        at = datetime.now(UTC).isoformat(timespec="seconds")
        demoted, restored = str(current.version), str(previous.version)
        client.set_registered_model_alias(model_name, CHAMPION, restored)
        client.set_registered_model_alias(model_name, ROLLED_BACK, demoted)
        client.delete_registered_model_alias(model_name, PREVIOUS)
        for version, tags in (
            (
                demoted,
                {
                    "gate.decision": "rolled_back",
                    "gate.rolled_back_by": who,
                    "gate.rollback_reason": reason[:4900],
                    "gate.rolled_back_at": at,
                },
            ),
            (restored, {"gate.restored_by": who, "gate.restored_at": at}),
        ):
            for key, value in tags.items():
                client.set_model_version_tag(model_name, version, key, value)
        return {
            "model_name": model_name,
            "demoted": demoted,
            "restored": restored,
            "by": who,
            "reason": reason,
            "at": at,
        }

    return registry_call(uri, "roll back the champion", move)


def status(uri: str, model_name: str, last: int = 10) -> dict[str, Any]:
    """Aliases and the latest gate decisions of a registered model."""
    client = client_for(uri)

    def read() -> dict[str, Any]:
        from mlflow.exceptions import MlflowException

        try:
            model = client.get_registered_model(model_name)
        except MlflowException:
            raise RegistryError(f"no registered model {model_name!r} in the registry at {uri}") from None
        versions = sorted(client.search_model_versions(f"name='{model_name}'"), key=lambda v: -int(v.version))
        return {
            "model_name": model_name,
            "aliases": {alias: str(version) for alias, version in model.aliases.items()},
            "versions": [
                {
                    "version": str(v.version),
                    "decision": v.tags.get("gate.decision", ""),
                    "reasons": v.tags.get("gate.reasons", ""),
                    "review": v.tags.get("gate.review", ""),
                    "created": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC).isoformat(
                        timespec="seconds"
                    ),
                }
                for v in versions[:last]
            ],
        }

    return registry_call(uri, "read the model's status", read)
