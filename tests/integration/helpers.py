"""Helpers of the integration tests: the real flow, the MLflow registry and Prefect artifacts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gatekeeper.config import GateConfig
from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import demo_config


def run_gate(config: GateConfig) -> dict[str, Any]:
    """The real flow; its Decision as decision.json holds it (the contract a user reads)."""
    from flows.retraining_gate import retraining_gate
    from gatekeeper.decide.decision import decision_to_dict

    return decision_to_dict(retraining_gate(config))


def bootstrap_and_run(scenario: str, workdir: Path) -> tuple[dict[str, Any], dict[str, Any], GateConfig]:
    """The demo's story through the real flow: bootstrap a champion, then the scenario."""
    model = f"demo-{scenario}"
    boot = demo_config(model, simulate.write_bootstrap(workdir / "data" / model / "bootstrap"), workdir)
    first = run_gate(boot)
    config = demo_config(
        model, simulate.write_scenario(scenario, workdir / "data" / model / scenario), workdir, scenario
    )
    return first, run_gate(config), config


def mlflow_client(config: GateConfig):
    from mlflow import MlflowClient

    uri = config.resolved_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def aliases(config: GateConfig) -> dict[str, str]:
    model = mlflow_client(config).get_registered_model(config.model_name)
    return {alias: str(version) for alias, version in model.aliases.items()}


def read_artifacts(key: str, flow_run_id: str | None = None) -> list[Any]:
    """Prefect artifacts under `key` (of one flow run if given), read back through the Prefect client."""
    return [a for a in _read_artifacts(key) if flow_run_id is None or str(a.flow_run_id) == flow_run_id]


def _read_artifacts(key: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            )

    return asyncio.run(read())
