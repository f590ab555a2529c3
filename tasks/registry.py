"""MLflow tasks: the run's trail, the candidate's registration, the champion alias."""

from __future__ import annotations

from dataclasses import replace

from prefect import get_run_logger

from gatekeeper.config import GateConfig
from gatekeeper.data.tables import GateTables
from gatekeeper.decide.decision import Decision
from gatekeeper.registry import CHALLENGER, CHAMPION, client, runs, versions
from gatekeeper.train.models import TrainedModel
from tasks import gate_task, retry_if

# MLflow unreachable or briefly unavailable is retried, never a logic failure
REMOTE_RETRIES = {"retries": 2, "retry_delay_seconds": 3, "retry_condition_fn": retry_if(client.is_transient)}


@gate_task(**REMOTE_RETRIES)
def start_gate_run(config: GateConfig, tables: GateTables, flow_run_id: str | None) -> str:
    """Open the MLflow run that holds this gate run's params, data hashes and decision."""
    rows = {n: len(tables.table(n)) for n in tables.hashes}
    run_id = runs.open_run(config, tables.hashes, rows, flow_run_id)
    get_run_logger().info("MLflow run %s at %s", run_id, config.resolved_tracking_uri)
    return run_id


@gate_task(**REMOTE_RETRIES)
def register_candidate(config: GateConfig, run_id: str, candidate: TrainedModel) -> TrainedModel:
    """Log the fitted candidate in the run and register it as a new version, alias `challenger`."""
    version = versions.register_model(config, run_id, candidate)
    get_run_logger().info("registered %s version %s (alias %s)", config.model_name, version, CHALLENGER)
    return replace(candidate, version=version)


@gate_task(**REMOTE_RETRIES)
def load_champion(config: GateConfig) -> TrainedModel | None:
    """The model version behind alias `champion`, or None (bootstrap)."""
    champion = versions.load_champion(config)
    if champion is None:
        get_run_logger().info("no %s alias on %s yet: this is a bootstrap run", CHAMPION, config.model_name)
    else:
        get_run_logger().info("champion is %s version %s", config.model_name, champion.version)
    return champion


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
