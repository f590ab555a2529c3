"""The two commands a new user types, as subprocesses with their own ephemeral Prefect API."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _gatekeeper(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    from tests.doc_commands import reader_env

    env = reader_env(cwd)
    exe = shutil.which("gatekeeper") or str(Path(sys.executable).parent / "gatekeeper")  # the venv's own
    return subprocess.run(
        [exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_run_with_unreachable_tracking_server_fails_in_one_paragraph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow's own retries of a refused connection (7, with backoff) add ~20 s and nothing the test is
    # about: the gate's error path and its one paragraph
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    config = (REPO / "examples/bank_marketing/gate.yaml").read_text()
    config = config.replace("data/", str(REPO / "examples/bank_marketing/data") + "/")
    config = config.replace("../../expectations", str(REPO / "expectations"))
    path = tmp_path / "gate.yaml"
    path.write_text(config + "tracking_uri: http://127.0.0.1:9\n")
    result = _gatekeeper("run", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert "gatekeeper run: error: MLflow at http://127.0.0.1:9 failed to open a run" in result.stderr
    assert "Traceback" not in result.stderr


def test_labels_arrived_without_a_prefect_server_refuses(tmp_path: Path) -> None:
    """No PREFECT_API_URL: an event would reach no deployment, so nothing is emitted."""
    batch = REPO / "examples/bank_marketing/data/new_labels.csv.gz"
    result = _gatekeeper(
        "labels-arrived", "--model", "bank-term-deposit", "--batch", str(batch), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "PREFECT_API_URL is not set" in result.stderr
    assert "Traceback" not in result.stderr
    bad = _gatekeeper("labels-arrived", "--model", "bank term", "--batch", str(batch), cwd=tmp_path)
    assert "--model must be a registered model name" in bad.stderr


def test_the_demo_says_how_to_open_both_uis_and_following_it_shows_the_verdict(tmp_path: Path) -> None:
    """The README's `gatekeeper demo` (bootstrap, then a promotion) prints how to open the run in the
    Prefect UI and the model in the MLflow UI; the README's two commands for that (a Prefect server on
    the local database, `mlflow ui` on the demo's store), run as written but on free ports, serve the
    run, in a state named after the decision, and the registered model."""
    import re

    import httpx

    from tests.doc_commands import DocScript, reader_env
    from tests.integration.servers import free_port

    env = reader_env(tmp_path)
    prefect_port, mlflow_port = free_port(), free_port()
    script = DocScript("README.md", "demo", tmp_path, env, replace={"--port 5000": f"--port {mlflow_port}"})
    result = script.run("gatekeeper demo")
    # the default demo bootstraps, then promotes (one demo run serves both tests' checks)
    assert "PROMOTED" in result.stdout
    assert "BOOTSTRAP" in result.stdout
    decision = json.loads(
        (tmp_path / ".gatekeeper" / "decisions" / "demo-improves-improves.json").read_text()
    )
    assert decision["decision"] == "promoted"
    assert (tmp_path / ".gatekeeper" / "demo" / "demo-improves" / "improves" / "gate.yaml").exists()
    assert "UserWarning" not in result.stdout + result.stderr  # MLflow's hints are not a reviewer's
    lines = [line for line in result.stdout.splitlines() if line.startswith(("Prefect UI:", "MLflow UI:"))]
    prefect_line = [line for line in lines if line.startswith("Prefect UI:")][-1]
    mlflow_line = [line for line in lines if line.startswith("MLflow UI:")][-1]
    assert "prefect server start" in prefect_line  # what the README says to run
    assert "mlflow ui --backend-store-uri" in mlflow_line
    run_id = re.search(r"/runs/flow-run/([0-9a-f-]{36})", prefect_line).group(1)
    store = re.search(r"--backend-store-uri (\S+) ", mlflow_line).group(1)
    assert store == f"sqlite:///{tmp_path / '.gatekeeper' / 'mlflow.db'}"  # the README's, from here
    assert "#/models/demo-improves/versions/" in mlflow_line
    # no link anywhere to the private API's port, gone when the command exited
    assert not re.search(r"127\.0\.0\.1:(?!4200\b)\d+/runs", result.stdout + result.stderr)
    script.env["PREFECT_SERVER_API_PORT"] = str(prefect_port)  # `prefect server start`, on a free port
    try:
        script.start(
            "prefect server start",
            lambda: httpx.get(f"http://127.0.0.1:{prefect_port}/api/health", timeout=5).status_code == 200,
        )
        run = httpx.get(f"http://127.0.0.1:{prefect_port}/api/flow_runs/{run_id}", timeout=30).json()
        assert run["state"]["name"] == "Promoted"
        script.start(
            "mlflow ui --backend-store-uri sqlite:///.gatekeeper/mlflow.db",
            lambda: httpx.get(f"http://127.0.0.1:{mlflow_port}/health", timeout=5).status_code == 200,
        )
        model = httpx.get(
            f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow/registered-models/get",
            params={"name": "demo-improves"},
            timeout=30,
        ).json()
        assert {a["alias"] for a in model["registered_model"]["aliases"]} >= {"champion"}
        script.finish()
    finally:
        script.stop()
