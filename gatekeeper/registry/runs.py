"""The MLflow run of one gate run: its params and data hashes, then the decision and its report."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gatekeeper.config import GateConfig
from gatekeeper.decide.decision import Decision, decision_to_json, read_decision
from gatekeeper.errors import (
    DecisionFormatError,
    RegistryError,
    RegistryNotFound,
    link_without_credentials,
    redact,
)
from gatekeeper.findings import ChampionReference
from gatekeeper.registry.client import connect, quiet_mlflow_hints, registry_errors
from gatekeeper.registry.records import DECISION_FILE, DECISION_SHA_TAG, sha256, signature_tags
from gatekeeper.report.markdown import FOREST_PLOT_FILE, render_markdown, segments_csv
from gatekeeper.report.review import review_headline

if TYPE_CHECKING:
    import pandas as pd

FOREST_PLOT = FOREST_PLOT_FILE


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


def prepare_registry(config: GateConfig) -> None:
    """The registry's tables and the gate's experiment, made before gate runs use them at once: two
    processes creating a fresh sqlite registry together race on its schema (one fails its migration)."""
    uri = config.resolved_tracking_uri
    with registry_errors(uri, "prepare the registry"):
        experiment_id(connect(uri), config)


DATASET_CONTEXT = {"train": "training", "new_labels": "training", "evaluation": "evaluation"}


def open_run(
    config: GateConfig,
    hashes: dict[str, str],
    rows: dict[str, int],
    flow_run_id: str | None,
    tables: dict[str, tuple[pd.DataFrame, str]] | None = None,
) -> str:
    """Create the MLflow run of one gate run: every config key, data hashes and sizes, gate.yaml, and
    each table in `tables` (name -> frame, source) as an MLflow dataset input (its sha256 the digest)."""
    from mlflow.entities import Param, RunTag

    uri = config.resolved_tracking_uri
    client = connect(uri)
    with registry_errors(uri, "open a run"):
        exp_id = experiment_id(client, config)
        end_stale_runs(client, exp_id, config.model_name)
        send_unrecorded(client, config)
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
        if tables:
            with quiet_mlflow_hints():
                _log_inputs(client, run_id, _dataset_inputs(config, tables, hashes))
        return run_id


def _log_inputs(client: Any, run_id: str, inputs: list[Any]) -> None:
    """`log_inputs`, once more when another writer created the same dataset in between: MLflow looks a
    dataset up, then inserts it, so two gate processes logging one shared table (a fleet's models on Dask
    workers, reading the same batch file) can both insert, and the second fails on the datasets table's
    unique key. The second attempt finds the row and links the run to it."""
    from mlflow.exceptions import MlflowException

    try:
        client.log_inputs(run_id, datasets=inputs)
    except MlflowException as exc:
        text = str(exc).lower()
        if "datasets" not in text or not ("unique constraint" in text or "duplicate key" in text):
            raise
        client.log_inputs(run_id, datasets=inputs)


def _dataset_inputs(
    config: GateConfig, tables: dict[str, tuple[pd.DataFrame, str]], hashes: dict[str, str]
) -> list[Any]:
    """The tables as MLflow datasets (schema, rows, source; the gate's sha256 as digest), each tagged
    with its context: `training` (the reference and the new labels), `evaluation`."""
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    inputs = []
    for name, (frame, source) in tables.items():
        dataset = from_pandas(
            frame,
            source=redact(source),
            name=name,
            targets=config.target if config.target in frame.columns else None,
            digest=hashes.get(name, "")[:36] or None,
        )
        dataset.__dict__["schema"] = _schema(frame)  # MLflow's own walks every value (~0.4 s a table)
        tags = [InputTag(MLFLOW_DATASET_CONTEXT, DATASET_CONTEXT.get(name, name))]
        inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags=tags))
    return inputs


SCHEMA_ROWS = 1_000


def _schema(frame: pd.DataFrame) -> Any:
    """A table's MLflow schema: each column's type inferred from its first SCHEMA_ROWS rows (MLflow
    checks every element of a text column: 0.3-0.8 s on a 40,000-row table), `required` from every
    row (a column with a missing value anywhere is optional)."""
    from mlflow.types.schema import ColSpec, Schema
    from mlflow.types.utils import _infer_schema

    try:
        sampled = _infer_schema(frame.head(SCHEMA_ROWS))
    except Exception:  # as MLflow does: a table whose schema cannot be inferred has none
        return None
    missing = frame.isna().any()
    columns = [
        ColSpec(c.type, c.name, required=not bool(missing.get(c.name))) if isinstance(c, ColSpec) else c
        for c in sampled.inputs
    ]
    return Schema(columns)


def end_stale_runs(client: Any, exp_id: str, model_name: str) -> list[str]:
    """End this model's gate runs still marked RUNNING (KILLED, with why): runs of one model are
    serialised by its lock, so one still running when another opens died before it could finish (a
    kill, MLflow gone mid-run). Call inside `registry_errors`; returns their ids."""
    stale = client.search_runs(
        [exp_id],
        filter_string=f"tags.`gate.model_name` = '{model_name}' and attributes.status = 'RUNNING'",
        max_results=100,
    )
    for run in stale:
        client.set_tag(run.info.run_id, "gate.ended_by", "a later gate run: it stopped before it finished")
        client.set_terminated(run.info.run_id, "KILLED")
        why = (
            f"gate run {run.info.run_id} registered it, then stopped before it decided "
            "(killed, or the registry failed)"
        )
        tag_undecided_versions(client, model_name, str(run.info.run_id), why)
    return [str(r.info.run_id) for r in stale]


def tag_undecided_versions(client: Any, model_name: str, run_id: str, why: str) -> list[str]:
    """Versions the gate run `run_id` registered that carry no decision, tagged `gate.decision: error`
    with why: a candidate stays registered and says why nothing became of it. Call inside
    `registry_errors`; returns the versions tagged."""
    found = client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'")
    tagged = [str(v.version) for v in found if "gate.decision" not in (v.tags or {})]
    for version in tagged:
        mark_error(client, model_name, version, why)
    return tagged


def mark_error(client: Any, model_name: str, version: str, why: str) -> None:
    """Tag a version `gate.decision: error` with why (it stays registered; nothing moves). Call inside
    `registry_errors`."""
    client.set_model_version_tag(model_name, version, "gate.decision", "error")
    client.set_model_version_tag(model_name, version, "gate.reasons", why[:4900])


UNRECORDED = "unrecorded_decision.json"  # a decision reached while the registry was gone


def send_unrecorded(client: Any, config: GateConfig) -> list[str]:
    """Decisions kept in the workdir because the registry failed (`decisions/unrecorded/`), logged
    into their runs as `unrecorded_decision.json` (never as decision.json: they were not applied),
    the run tagged, and the file moved to `sent/`. Call inside `registry_errors`."""
    folder = Path(config.workdir) / "decisions" / "unrecorded"
    sent = []
    for path in sorted(folder.glob(f"{config.model_name}-*.json")):
        try:
            decision = read_decision(path.read_text(), str(path))
        except (OSError, DecisionFormatError):
            continue
        if decision.mlflow_run_id:
            client.log_text(decision.mlflow_run_id, path.read_text(), UNRECORDED)
            client.set_tag(decision.mlflow_run_id, "gate.unrecorded_decision", decision.decision)
        if decision.candidate_version:  # the version the outage left untagged says what happened
            why = f"the gate decided {decision.decision}, but the registry failed before it was applied"
            mark_error(client, config.model_name, decision.candidate_version, why)
        (folder / "sent").mkdir(exist_ok=True)
        for file in (path, path.with_suffix(".error.txt")):
            if file.exists():
                file.rename(folder / "sent" / file.name)
        sent.append(str(path))
    return sent


def end_failed_run(config: GateConfig, run_id: str, error: str) -> bool:
    """Mark a gate run whose flow failed as FAILED with the error (redacted); False when the registry
    cannot be reached (the next run ends it as stale)."""
    uri = config.resolved_tracking_uri
    try:
        client = connect(uri)
        with registry_errors(uri, "end the failed run"):
            client.set_tag(run_id, "gate.error", redact(error)[:4900])
            client.set_terminated(run_id, "FAILED")
            why = f"the gate run that registered it failed before it decided: {redact(error)}"
            tag_undecided_versions(client, config.model_name, run_id, why)
    except RegistryError:
        return False
    return True


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


def log_decision(client: Any, model_name: str, decision: Decision) -> str:
    """decision.json into the run, its sha256 on the candidate's version (the record a review and
    `verify` check against); returns the hash. Call inside `registry_errors`."""
    text = decision_to_json(decision)
    digest = sha256(text)
    if decision.mlflow_run_id is None:
        return digest
    client.log_text(decision.mlflow_run_id, text, DECISION_FILE)
    client.set_tag(decision.mlflow_run_id, DECISION_SHA_TAG, digest)
    if decision.candidate_version is not None:
        client.set_model_version_tag(model_name, decision.candidate_version, DECISION_SHA_TAG, digest)
        for key, value in signature_tags("decision", model_name, decision.candidate_version, digest).items():
            client.set_model_version_tag(model_name, decision.candidate_version, key, value)
    return digest


def web_links(
    uri: str, experiment_id: str | None, run_id: str | None, model: str, version: str | None
) -> dict[str, str]:
    """Browser links into the MLflow UI (only when MLflow is a server; a sqlite file has no pages)."""
    if not uri.startswith(("http://", "https://")):
        return {}
    base = link_without_credentials(uri).rstrip("/")  # links are shown and stored: never a password
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
        log_decision(client, config.model_name, decision)
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
        # the run's name says what it decided (a bootstrap and a gate run of one model no longer
        # share one), and the version's description carries the verdict a person reads first
        client.update_run(run_id, name=run_name(decision, run.info.start_time))
        if decision.candidate_version is not None:
            client.update_model_version(
                config.model_name, decision.candidate_version, description=version_description(decision)
            )
        client.set_terminated(run_id, "FINISHED")
        return links


def run_name(decision: Decision, started_ms: int | None) -> str:
    """`<decision>-<model>-<UTC start>`, e.g. `promoted-fraud-detector-20261206-1404`."""
    import datetime as dt

    stamp = dt.datetime.fromtimestamp((started_ms or 0) / 1000, tz=dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{decision.decision.replace('_', '-')}-{decision.model_name}-{stamp}"


def version_description(decision: Decision) -> str:
    """The verdict and its reasons, as the MLflow UI shows a model version's description (markdown);
    a person's answer to a review first, as `gatekeeper approve|reject` writes it."""
    review = decision.review
    lines = [review_headline(review), ""] if review and review.outcome in ("approved", "rejected") else []
    lines += [f"**{decision.decision.upper()}** by the retraining gatekeeper: {decision.summary()}.", ""]
    lines += [f"- {redact(r.text(code=True))}" for r in decision.reasons[:20]]
    if decision.overall is not None and decision.overall.delta is not None:
        o = decision.overall
        interval = "" if o.ci_low is None or o.ci_high is None else f" [{o.ci_low:+.4f}, {o.ci_high:+.4f}]"
        lines += ["", f"{decision.primary_metric}: delta {o.delta:+.4f}{interval} on {o.n} evaluation rows."]
    lines += ["", f"decision.json and report.md: MLflow run {decision.mlflow_run_id}."]
    return "\n".join(lines)[:5000]
