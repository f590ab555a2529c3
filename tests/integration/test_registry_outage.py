"""MLflow gone after the candidate is registered: the decision the gate reached is kept locally, the
run exits 1 in one paragraph, nothing is promoted, and the MLflow run is ended (by the next gate
run once the server is back) instead of staying RUNNING (issue 14's audit)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import demo_config, write_config
from tests.integration.helpers import mlflow_client, run_gate

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MlflowServer:
    """A real `mlflow server` on loopback over a sqlite store that survives restarts."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--backend-store-uri",
                f"sqlite:///{self.root / 'mlflow.db'}",
                "--artifacts-destination",
                str(self.root / "artifacts"),
                "--workers",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError("mlflow server did not start")

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, 9)
            self.process.wait()
            self.process = None


@pytest.fixture
def server(tmp_path: Path):
    found = MlflowServer(tmp_path / "mlflow")
    found.start()
    yield found
    found.stop()


def test_a_registry_outage_after_registration_keeps_the_decision_and_ends_the_run(
    tmp_path: Path, server: MlflowServer
) -> None:
    model = "outage"
    boot = demo_config(model, simulate.write_bootstrap(tmp_path / "boot"), tmp_path)
    run_gate(boot.model_copy(update={"tracking_uri": server.url}))
    config = demo_config(
        model, simulate.write_scenario("improves", tmp_path / "improves"), tmp_path, "improves"
    )
    path = write_config(config.model_copy(update={"tracking_uri": server.url}), tmp_path / "gate.yaml")
    paused = tmp_path / "paused-before-apply"  # created by the gate once it reaches the point
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "MLFLOW_TRACKING"))}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home")}
    env |= {"GATEKEEPER_TEST_PAUSE": f"before-apply:5:{paused}"}
    # MLflow's own HTTP retries (with backoff) on a refused connection only add minutes: the gate's task
    # retries and its error path are what this test is about
    env |= {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"}
    gate = subprocess.Popen(
        [shutil.which("gatekeeper") or str(BIN / "gatekeeper"), "run", "--config", str(path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # the candidate is registered and scored, then the gate pauses before applying the decision: stop
    # MLflow there (not when the version shows up: registering goes on after that, see stop 21's CI)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and gate.poll() is None and not paused.exists():
        time.sleep(0.2)
    if not paused.exists():
        gate.kill()
        pytest.fail(
            f"the gate never reached the point before applying its decision: {gate.communicate()[1][-3000:]}"
        )
    server.stop()
    _, err = gate.communicate(timeout=600)
    assert gate.returncode == 1, err[-3000:]
    assert "Traceback" not in err
    kept = sorted((tmp_path / "decisions" / "unrecorded").glob(f"{model}-*.json"))  # the config's workdir
    assert len(kept) == 1, err[-2000:]
    assert f"the decision reached (promoted) is kept at {kept[0]}" in err
    decision = json.loads(kept[0].read_text())
    assert decision["decision"] == "promoted"  # what the gate reached, never applied
    assert "127.0.0.1" in kept[0].with_suffix(".error.txt").read_text()

    server.start()  # the registry is back: nothing moved; the next run ends the stale one
    client = mlflow_client(config.model_copy(update={"tracking_uri": server.url}))
    assert client.get_registered_model(model).aliases["champion"] == "1"
    stuck = client.get_run(decision["mlflow_run_id"])
    assert stuck.info.status == "RUNNING"  # MLflow was gone: nobody could end it then
    run_gate(config.model_copy(update={"tracking_uri": server.url}))
    ended = client.get_run(decision["mlflow_run_id"])
    assert ended.info.status == "KILLED"
    assert "stopped before it finished" in ended.data.tags["gate.ended_by"]
    # the kept decision reached the registry once it was back, marked as never applied
    assert ended.data.tags["gate.unrecorded_decision"] == "promoted"
    assert "unrecorded_decision.json" in [a.path for a in client.list_artifacts(ended.info.run_id)]
    assert not list((tmp_path / "decisions" / "unrecorded").glob("*.json"))
    assert (tmp_path / "decisions" / "unrecorded" / "sent" / kept[0].name).exists()
    tags = client.get_model_version(model, decision["candidate_version"]).tags
    assert tags["gate.decision"] == "error"
    assert "registry failed before it was applied" in tags["gate.reasons"]


def test_versions_left_undecided_by_a_dead_or_failed_gate_run_say_why(tmp_path: Path) -> None:
    """A gate run killed (or cut off from MLflow) after registering, or one that failed before it
    decided, leaves its version registered, and the next run or the failure handler tags it
    `gate.decision: error` with why; a version that carries a decision is left alone (a real
    sqlite registry, no Prefect)."""
    from gatekeeper.registry import runs
    from gatekeeper.registry.client import connect
    from tests.builders import make_config

    config = make_config(
        model_name="orphans", workdir=str(tmp_path), tracking_uri=f"sqlite:///{tmp_path}/m.db"
    )
    client = connect(config.resolved_tracking_uri)
    exp = runs.experiment_id(client, config)
    client.create_registered_model("orphans")

    def gate_run_with_version(decision: str | None) -> tuple[str, str]:
        run_id = client.create_run(exp, tags={"gate.model_name": "orphans"}).info.run_id
        tags = {"gate.decision": decision} if decision else {}
        version = client.create_model_version("orphans", f"runs:/{run_id}/model", run_id=run_id, tags=tags)
        return run_id, str(version.version)

    killed, undecided = gate_run_with_version(None)
    _, decided = gate_run_with_version("rejected")
    failed, failed_version = gate_run_with_version(None)
    client.set_terminated(failed, "FAILED")  # not stale: ended by the failure handler below
    other = client.create_run(exp, tags={"gate.model_name": "another-model"}).info.run_id

    ended = runs.end_stale_runs(client, exp, "orphans")
    assert killed in ended
    assert other not in ended
    assert client.get_run(killed).info.status == "KILLED"
    tags = client.get_model_version("orphans", undecided).tags
    assert tags["gate.decision"] == "error"
    assert f"gate run {killed} registered it, then stopped before it decided" in tags["gate.reasons"]
    assert client.get_model_version("orphans", decided).tags == {"gate.decision": "rejected"}
    assert "gate.decision" not in client.get_model_version("orphans", failed_version).tags

    assert runs.end_failed_run(config, failed, "ValueError: scores of version 3 are NaN")
    tags = client.get_model_version("orphans", failed_version).tags
    assert tags["gate.decision"] == "error"
    assert tags["gate.reasons"].endswith("failed before it decided: ValueError: scores of version 3 are NaN")
    assert client.get_model_version("orphans", decided).tags == {"gate.decision": "rejected"}
