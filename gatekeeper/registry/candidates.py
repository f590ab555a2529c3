"""Candidates trained elsewhere, named by an MLflow model URI: where the URI points, registering a runs:/
candidate as a version of `model_name`, and tagging one the gate cannot score."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.config import GateConfig
from gatekeeper.errors import ModelError
from gatekeeper.registry import CHALLENGER, CHAMPION
from gatekeeper.registry.client import alias_version, connect, http_status, registry_errors
from gatekeeper.registry.runs import mark_error
from gatekeeper.registry.versions import ensure_registered_model
from gatekeeper.uris import parse_model_uri


@dataclass(frozen=True)
class CandidateRef:
    """A candidate named by URI: its version of `model_name`, or (runs:/ not yet registered) its run."""

    uri: str
    version: str | None
    run_id: str | None = None
    path: str | None = None


def resolve_candidate(config: GateConfig, text: str) -> CandidateRef:
    """Where a candidate URI points, checked against the registry (reads only).

    A version or alias of another registered model, a version or alias that does not exist, a run
    that does not exist, or the champion itself: each a ModelError saying which.
    """
    ref = parse_model_uri(text)
    uri = config.resolved_tracking_uri
    client = connect(uri)
    name = config.model_name
    if ref.kind in ("version", "alias") and ref.name != name:
        raise ModelError(
            f"candidate {ref.uri} is a version of registered model {ref.name!r}, not of {name!r} "
            f"(model_name): the gate moves {name!r}'s aliases only; register the candidate under {name!r} "
            "or give it as runs:/<run_id>/<path>"
        )
    with registry_errors(uri, f"resolve the candidate {ref.uri}"):
        if ref.kind == "version":
            try:
                mv = client.get_model_version(name, ref.version)
            except Exception as exc:
                if not _not_found(exc):
                    raise
                raise ModelError(
                    f"candidate {ref.uri} does not resolve: {name!r} has no version {ref.version} in {uri}"
                ) from None
            version = str(mv.version)
        elif ref.kind == "alias":
            mv = alias_version(client, name, str(ref.alias))
            if mv is None:
                raise ModelError(
                    f"candidate {ref.uri} does not resolve: {name!r} has no alias {ref.alias!r} in {uri}"
                )
            version = str(mv.version)
        else:
            try:
                client.get_run(ref.run_id)
            except Exception as exc:
                if not _not_found(exc):
                    raise
                raise ModelError(
                    f"candidate {ref.uri} does not resolve: no run {ref.run_id} in {uri}"
                ) from None
            found = _version_of_run(client, name, str(ref.run_id), str(ref.path))
            if found is None:
                return CandidateRef(ref.uri, None, ref.run_id, ref.path)
            version = found  # registered already: the champion's own run, or judged, is refused below
        champion = alias_version(client, name, CHAMPION)
    if champion is not None and str(champion.version) == version:
        raise ModelError(
            f"candidate {ref.uri} is version {version}, which already is {name!r}'s {CHAMPION}: "
            "nothing to judge"
        )
    with registry_errors(uri, f"resolve the candidate {ref.uri}"):
        judged = (client.get_model_version(name, version).tags or {}).get("gate.decision")
    if judged and judged != "error":
        raise ModelError(
            f"candidate {ref.uri} is version {version}, which the gate already judged ({judged}): its "
            "record stays as it is; register the model again as a new version to judge it on new data"
        )
    return (
        CandidateRef(ref.uri, version, ref.run_id, ref.path)
        if ref.kind == "run"
        else CandidateRef(ref.uri, version)
    )


def _not_found(exc: BaseException) -> bool:
    from mlflow.exceptions import MlflowException

    if not isinstance(exc, MlflowException):
        return False
    text = str(exc).lower()
    return (
        http_status(exc) == 404
        or exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")
        or "not found" in text
        or "does not exist" in text
    )


def _version_of_run(client: Any, name: str, run_id: str, path: str) -> str | None:
    """The newest version of `name` registered from `path` of run `run_id`, if there is one."""
    try:
        found = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    except Exception as exc:
        if _not_found(exc):
            return None
        raise
    tail = "/" + path.strip("/")
    uri = f"runs:/{run_id}/{path.strip('/')}"
    matching = [
        mv
        for mv in found
        if str(mv.source).rstrip("/").endswith(tail)
        or str(mv.source).startswith("models:/m-")
        or (getattr(mv, "tags", None) or {}).get("gate.registered_from") == uri
    ]
    return str(max(matching, key=lambda mv: int(mv.version)).version) if matching else None


def register_external(config: GateConfig, ref: CandidateRef, gate_run_id: str) -> str:
    """The candidate's version of `model_name` (registering a runs:/ candidate first), alias `challenger`."""
    uri = config.resolved_tracking_uri
    client = connect(uri)
    name = config.model_name
    with registry_errors(uri, f"register the candidate {ref.uri}"):
        version = ref.version
        if version is None:
            source, model_id = _run_model_source(client, ref)
            ensure_registered_model(client, name)
            version = str(
                client.create_model_version(
                    name,
                    source=source,
                    run_id=ref.run_id,
                    model_id=model_id,
                    tags={"gate.registered_from": ref.uri, "gate.registered_by_run": gate_run_id},
                ).version
            )
        client.set_model_version_tag(name, version, "gate.candidate_uri", ref.uri)
        client.set_registered_model_alias(name, CHALLENGER, version)
        return version


def _run_model_source(client: Any, ref: CandidateRef) -> tuple[str, str | None]:
    """Where a runs:/ model lives, as `mlflow.register_model` finds it but with an explicit client (the
    fluent API would set the process-wide tracking URI, and MLFLOW_TRACKING_URI with it): MLflow 3's
    logged model of that name from that run, else (a model logged as plain run artifacts) the run's
    artifacts at the path."""
    run_id, path = str(ref.run_id), str(ref.path).strip("/")
    run = client.get_run(run_id)
    found = [
        m
        for m in client.search_logged_models([run.info.experiment_id], filter_string=f"name = '{path}'")
        if m.source_run_id == run_id
    ]
    if found:
        # its artifact location, not `models:/<model id>`: MLflow resolves that through the
        # process-wide tracking URI, which need not be this registry's (only `tracking_uri` is set)
        newest = max(found, key=lambda m: m.creation_timestamp or 0)
        return str(newest.artifact_location), str(newest.model_id)
    listed = {Path(a.path).name for a in client.list_artifacts(run_id, path)}
    if "MLmodel" not in listed:
        raise ModelError(f"candidate {ref.uri} does not resolve: run {run_id} logged no model at {path!r}")
    return f"{run.info.artifact_uri.rstrip('/')}/{path}", None


def mark_unscoreable(config: GateConfig, version: str, reason: str) -> None:
    """Tag a candidate the gate could not score with the reason (it stays registered; nothing moves)."""
    uri = config.resolved_tracking_uri
    client = connect(uri)
    with registry_errors(uri, f"tag version {version} of {config.model_name}"):
        mark_error(client, config.model_name, version, reason)
