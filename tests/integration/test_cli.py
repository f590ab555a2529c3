"""The two commands a new user types, as subprocesses with their own ephemeral Prefect API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _gatekeeper(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "MLFLOW_TRACKING"))}
    env["PREFECT_HOME"] = str(cwd / "prefect-home")
    exe = shutil.which("gatekeeper") or ""
    cmd = [exe] if exe else [sys.executable, "-m", "gatekeeper.cli"]
    return subprocess.run(
        [*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_demo_default_bootstraps_then_promotes(tmp_path: Path) -> None:
    result = _gatekeeper("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "PROMOTED" in result.stdout
    assert "BOOTSTRAP" in result.stdout
    decision = json.loads(
        (tmp_path / ".gatekeeper" / "decisions" / "demo-improves-improves.json").read_text()
    )
    assert decision["decision"] == "promoted"
    assert (tmp_path / ".gatekeeper" / "mlflow.db").exists()
    assert (tmp_path / ".gatekeeper" / "demo" / "demo-improves" / "improves" / "gate.yaml").exists()


def test_run_bank_marketing_example(tmp_path: Path) -> None:
    output = tmp_path / "decision.json"
    result = _gatekeeper(
        "run",
        "--config",
        str(REPO / "examples/bank_marketing/gate.yaml"),
        "--workdir",
        str(tmp_path / "wd"),
        "--output",
        str(output),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    decision = json.loads(output.read_text())
    assert decision["decision"] == "bootstrap"  # a fresh registry has no champion yet
    assert {s["segment"] for s in decision["segments"] if s["key"]} == {
        "job=student",
        "job=retired",
        "job=unemployed",
    }


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
