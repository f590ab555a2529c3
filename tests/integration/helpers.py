"""Helpers of the integration tests: the real flow, the MLflow registry and Prefect artifacts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gatekeeper.config import GateConfig
from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import demo_config
from tests.integration.bootstraps import bootstrapped


def run_gate(config: GateConfig) -> dict[str, Any]:
    """The real flow; its Decision as decision.json holds it (the contract a user reads)."""
    from flows.retraining_gate import retraining_gate
    from gatekeeper.decide.decision import decision_to_dict

    return decision_to_dict(retraining_gate(config))


def bootstrap_and_run(scenario: str, workdir: Path) -> tuple[dict[str, Any], dict[str, Any], GateConfig]:
    """The demo's story through the real flow: a bootstrapped champion (the session's bootstrap of
    `demo-<scenario>`, copied into the fresh `workdir`), then the scenario."""
    model = f"demo-{scenario}"
    first, _ = bootstrapped(model, workdir)
    config = demo_config(
        model, simulate.write_scenario(scenario, workdir / "data" / model / scenario), workdir, scenario
    )
    return first, run_gate(config), config


def needing_approval(workdir: Path, model: str, **review) -> GateConfig:
    """A bootstrapped `model` in the fresh `workdir`, then the `improves` config with
    `require_approval` (and review settings)."""
    bootstrapped(model, workdir)
    config = demo_config(model, simulate.write_scenario("improves", workdir / model / "run"), workdir)
    return config.model_copy(
        update={"require_approval": True, "review": config.review.model_copy(update=review)}
    )


def spawn(argv: list[str], pause: str | None = None) -> subprocess.Popen[str]:
    """`gatekeeper ARGV` in its own process (killable by PID), optionally pausing at a named point
    (`gatekeeper.registry.moves.pause`)."""
    from gatekeeper.registry.moves import PAUSE_ENV

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("PREFECT_API_URL", None)  # its own private API, as a user's command line has
    if pause:
        env[PAUSE_ENV] = pause
    code = f"import sys; sys.argv = ['gatekeeper', *{argv!r}]; from cli import entry; entry()"
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish_all(processes: list[subprocess.Popen[str]], seconds: float = 600) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each process, their pipes drained at the same time: waiting on
    one while another fills its pipe could stall that one inside the model's lock."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        outputs = list(pool.map(lambda p: p.communicate(timeout=seconds), processes))
    return [(p.returncode, out, err) for p, (out, err) in zip(processes, outputs, strict=True)]


def wait_until(condition: Any, what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


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


def read_task_run_names(flow_run_id: str) -> list[str]:
    """The names of a flow run's task runs, as the Prefect API has them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sorted(r.name for r in runs)


def read_flow_run(flow_run_id: str) -> Any:
    """A flow run as the Prefect API has it (state, tags)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def decision_events_filter(model_name: str) -> dict[str, Any]:
    """The body of `POST /events/filter` for the `gatekeeper.decision.*` events about a model."""
    from gatekeeper.report.events import EVENT_PREFIX, model_resource_id

    return {
        "filter": {
            "event": {"prefix": [EVENT_PREFIX]},
            "resource": {"id": [model_resource_id(model_name)]},
            "occurred": {"since": "2000-01-01T00:00:00Z"},
            "order": "ASC",
        },
        "limit": 50,
    }


def read_decision_events(model_name: str) -> list[dict[str, Any]]:
    """The `gatekeeper.decision.*` events the Prefect API stored about a model, oldest first."""
    from prefect.client.orchestration import get_client

    body = decision_events_filter(model_name)
    with get_client(sync_client=True) as client:
        response = client.request("POST", "/events/filter", json=body)
        response.raise_for_status()
        return list(response.json()["events"])


class Inbox:
    """A webhook receiver on loopback that keeps every JSON body POSTed to it (a notification's)."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from tests.integration.servers import free_port

        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.received = received
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/hook"
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
