"""The MLflow run of one gate run: its params and data hashes, then the decision and its report."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.config import GateConfig
from gatekeeper.decide.decision import Decision, decision_to_json, read_decision
from gatekeeper.errors import DecisionFormatError, RegistryNotFound, redact
from gatekeeper.findings import ChampionReference
from gatekeeper.registry.client import connect, registry_errors
from gatekeeper.report.markdown import render_markdown, segments_csv

FOREST_PLOT = "segment_forest.png"
DECISION_FILE = "decision.json"


def _flat_params(config: GateConfig) -> dict[str, str]:
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else key, sub)
        else:
            out[prefix] = value if isinstance(value, str) else json.dumps(value)

    walk("", config.model_dump(mode="json"))
    return {k: redact(v)[:6000] for k, v in out.items()}


def config_text(config: GateConfig) -> str:
    """The config as the run's gate.yaml, with any password in a URL replaced by ***."""
    return redact(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))


def experiment_id(client: Any, config: GateConfig) -> str:
    """The gate's experiment, created on first use (a local store keeps artifacts in the workdir)."""
    uri = config.resolved_tracking_uri
    exp = client.get_experiment_by_name(config.experiment_name)
    if exp is not None:
        return str(exp.experiment_id)
    local = uri.startswith(("sqlite:", "file:")) or "://" not in uri
    location = (Path(config.workdir) / "artifacts").resolve().as_uri() if local else None
    return str(client.create_experiment(config.experiment_name, artifact_location=location))


def open_run(
    config: GateConfig, hashes: dict[str, str], rows: dict[str, int], flow_run_id: str | None
) -> str:
    """Create the MLflow run of one gate run: every config key, data hashes and sizes, gate.yaml."""
    from mlflow.entities import Param, RunTag

    uri = config.resolved_tracking_uri
    client = connect(uri)
    with registry_errors(uri, "open a run"):
        exp_id = experiment_id(client, config)
        run = client.create_run(
            exp_id,
            run_name=f"gate-{config.model_name}",
            tags={"gate.model_name": config.model_name, "gate.prefect_flow_run_id": str(flow_run_id or "")},
        )
        run_id = str(run.info.run_id)
        params = _flat_params(config)
        params.update({f"data.{n}.sha256": h for n, h in hashes.items()})
        params.update({f"data.{n}.rows": str(r) for n, r in rows.items()})
        client.log_batch(
            run_id,
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(f"gate.data.{n}.sha256", h) for n, h in hashes.items()],
        )
        client.log_text(run_id, config_text(config), "gate.yaml")
        return run_id


def champion_reference(client: Any, uri: str, run_id: str | None) -> ChampionReference | None:
    """What a champion scored on its own evaluation rows when it was gated (its run's decision.json).

    None for a champion with no gate record (registered by hand): triage then has no reference.
    """
    if not run_id:
        return None
    try:
        with registry_errors(uri, "read the champion's decision"), tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, DECISION_FILE, tmp)
            text = Path(path).read_text()
    except RegistryNotFound:
        return None
    try:
        return read_decision(text, source=f"{DECISION_FILE} of run {run_id}").champion_reference()
    except DecisionFormatError:
        return None


def web_links(
    uri: str, experiment_id: str | None, run_id: str | None, model: str, version: str | None
) -> dict[str, str]:
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

    from gatekeeper.report.plots import forest_plot

    uri = config.resolved_tracking_uri
    if decision.mlflow_run_id is None:
        return {}
    client = connect(uri)
    run_id = decision.mlflow_run_id
    with registry_errors(uri, "record the decision"):
        run = client.get_run(run_id)
        links = web_links(
            uri, run.info.experiment_id, run_id, config.model_name, decision.candidate_version
        ) or {"MLflow run": run_id, "MLflow artifacts": run.info.artifact_uri}
        client.log_text(run_id, decision_to_json(decision), DECISION_FILE)
        client.log_text(run_id, segments_csv(decision), "segments.csv")
        client.log_text(run_id, render_markdown(decision), "report.md")
        picture = forest_plot(decision)
        if picture is None:
            links.pop("segment forest plot", None)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / FOREST_PLOT
                path.write_bytes(picture)
                client.log_artifact(run_id, str(path))
            links.setdefault("segment forest plot", f"{run.info.artifact_uri}/{FOREST_PLOT}")
        now = int(time.time() * 1000)
        overall = decision.overall
        values = (
            {}
            if overall is None
            else {k: getattr(overall, k) for k in ("champion", "candidate", "delta", "ci_low", "ci_high")}
        )
        metrics = [
            Metric(f"{k}.{decision.primary_metric}", float(v), now, 0)
            for k, v in values.items()
            if v is not None
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
