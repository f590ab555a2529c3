"""The gate as teams run it: real `prefect server` + `mlflow server`, deployments, a worker, events.

Marked `servers`; `.ci/run` runs it with the rest. Deselect locally with `pytest -m "not servers"`.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import demo_config, write_config
from tests.integration.browser import Browser
from tests.integration.servers import (
    BIN,
    REPO,
    Servers,
    chromium,
    free_port,
    start_servers,
    wait_until,
)

pytestmark = pytest.mark.servers

OUTPUT = Path(os.environ.get("GATEKEEPER_TEST_OUTPUT", REPO / "test-output"))
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("servers")
    running = start_servers(root)
    yield running
    running.stop()
    for name in running.processes:  # kept next to the screenshots for a failed CI run
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / f"{name}.log").write_text(running.log(name))


def model_config(servers: Servers, model: str, scenario: str, **update: Any) -> Path:
    """A demo model's config (train, batch, evaluation) on the MLflow server; returns its YAML path."""
    folder = servers.root / model
    config = demo_config(model, simulate.write_scenario(scenario, folder / scenario), folder)
    config = config.model_copy(update={"tracking_uri": servers.mlflow_url, **update})
    return write_config(config, folder / scenario / "gate.yaml")


SECRET = f"pw-{uuid.uuid4().hex[:12]}"  # in the MLflow URI of server-gate's bootstrap
BOOTSTRAPS: dict[str, Any] = {}  # each model's bootstrap command line, as it ended


def bootstrap(servers: Servers, model: str, password: str | None = None) -> None:
    """The first champion, from the command line against the same servers (with `password`, the
    config's MLflow URI carries one, written in the file as a user would)."""
    folder = servers.root / model
    boot = demo_config(model, simulate.write_bootstrap(folder / "bootstrap"), folder)
    path = write_config(boot.model_copy(update={"tracking_uri": servers.mlflow_url}), folder / "boot.yaml")
    if password is not None:  # (write_config masks a password: the YAML gets it by hand)
        raw = yaml.safe_load(path.read_text())
        raw["tracking_uri"] = f"http://ana:{password}@127.0.0.1:{servers.mlflow_port}"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
    done = servers.run(str(BIN / "gatekeeper"), "run", "--config", str(path))
    assert "BOOTSTRAP" in done.stdout, done.stdout
    BOOTSTRAPS[model] = done


def deployments_for(model: str, config: Path) -> list[dict[str, Any]]:
    """The repository's prefect.yaml with its example model swapped for `model` (same shape)."""
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    text = yaml.safe_dump(spec["deployments"]).replace("bank-term-deposit", model)
    deployments = yaml.safe_load(text)
    for deployment in deployments:
        deployment["parameters"]["config"] = str(config)
    return deployments


@pytest.fixture(scope="module")
def deployed(servers: Servers) -> dict[str, Path]:
    """The test models' deployments (the repository's own were deployed as the docs say, with the
    servers: tests/integration/servers.py)."""
    configs = {
        "server-gate": model_config(servers, "server-gate", "improves"),
        "server-review": model_config(servers, "server-review", "improves", require_approval=True),
        "server-ui": model_config(servers, "server-ui", "improves", require_approval=True),
        "server-ext": model_config(servers, "server-ext", "improves"),
    }
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    spec["deployments"] = [d for m, c in configs.items() for d in deployments_for(m, c)]
    path = servers.root / "test-models.prefect.yaml"  # not the docs' prefect.yaml copy in root
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    servers.run(str(BIN / "prefect"), "--no-prompt", "deploy", "--all", "--prefect-file", str(path))
    return configs


def deployment_id(servers: Servers, name: str) -> str:
    return servers.api("GET", f"/deployments/name/retraining-gate/{name}")["id"]


def runs_of(servers: Servers, deployment: str) -> list[dict[str, Any]]:
    return servers.api(
        "POST",
        "/flow_runs/filter",
        json={"flow_runs": {"deployment_id": {"any_": [deployment]}}, "sort": "START_TIME_ASC"},
    )


def labels_arrived(servers: Servers, model: str, batch: Path) -> None:
    done = servers.run(str(BIN / "gatekeeper"), "labels-arrived", "--model", model, "--batch", str(batch))
    assert "emitted gatekeeper.labels.arrived" in done.stdout, done.stdout


def artifacts_of(servers: Servers, flow_run: str, key: str) -> list[dict[str, Any]]:
    return servers.api(
        "POST",
        "/artifacts/filter",
        json={
            "artifacts": {"key": {"any_": [key]}, "flow_run_id": {"any_": [flow_run]}},
            "sort": "CREATED_DESC",
        },
    )


def logs_of(servers: Servers, flow_run: str) -> list[dict[str, Any]]:
    return servers.api(
        "POST",
        "/logs/filter",
        json={"logs": {"flow_run_id": {"any_": [flow_run]}}, "sort": "TIMESTAMP_ASC", "limit": 200},
    )


def log_time(servers: Servers, flow_run: str, text: str) -> datetime:
    for log in logs_of(servers, flow_run):
        if text in log["message"]:
            return datetime.fromisoformat(log["timestamp"])
    raise AssertionError(f"flow run {flow_run} never logged {text!r}")


def aliases(servers: Servers, model: str) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=servers.mlflow_url, registry_uri=servers.mlflow_url)
    return {a: str(v) for a, v in client.get_registered_model(model).aliases.items()}


def version_tags(servers: Servers, model: str, version: str) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=servers.mlflow_url, registry_uri=servers.mlflow_url)
    return client.get_model_version(model, version).tags


# ----------------------------------------------------------------------------- deployments


def test_the_repository_prefect_yaml_deploys_a_schedule_and_a_labels_trigger(servers, deployed) -> None:
    scheduled = servers.api("GET", "/deployments/name/retraining-gate/bank-term-deposit-scheduled")
    assert scheduled["parameters"] == {
        "config": "examples/bank_marketing/gate.yaml",
        "model_name": "bank-term-deposit",
    }
    assert [s["schedule"]["cron"] for s in scheduled["schedules"]] == ["0 6 * * 1"]
    schema = scheduled["parameter_openapi_schema"]["properties"]
    assert set(schema) == {"config", "new_labels", "model_name", "candidate"}
    on_labels = deployment_id(servers, "bank-term-deposit-on-labels")
    automations = servers.api("POST", "/automations/filter", json={})
    triggers = [
        a["trigger"]
        for a in automations
        if any(action.get("deployment_id") == on_labels for action in a["actions"])
    ]
    assert len(triggers) == 1
    assert triggers[0]["match"] == {"prefect.resource.id": "gatekeeper.model.bank-term-deposit"}
    assert triggers[0]["expect"] == ["gatekeeper.labels.arrived"]


@pytest.fixture(scope="module")
def two_arrivals(servers: Servers, deployed: dict[str, Path]) -> list[dict[str, Any]]:
    """Bootstrap `server-gate`, then say twice, close together, that the same batch arrived; the
    two runs in the order they took the model's lock."""
    bootstrap(servers, "server-gate", password=SECRET)
    batch = deployed["server-gate"].parent / "new_labels.parquet"
    assert batch.exists(), sorted(p.name for p in batch.parent.iterdir())
    labels_arrived(servers, "server-gate", batch)
    labels_arrived(servers, "server-gate", batch)
    deployment = deployment_id(servers, "server-gate-on-labels")

    def finished() -> list[dict[str, Any]] | None:
        runs = runs_of(servers, deployment)
        done = len(runs) == 2 and all(r["state_type"] in TERMINAL for r in runs)
        return runs if done else None

    runs = wait_until("two triggered gate runs finished", finished, timeout=600, every=2)
    # both runs start at once and race for the model's lock: the first is the one that got it (the
    # first to log its first stage, which comes after the lock), not the first to start
    return sorted(runs, key=lambda run: log_time(servers, run["id"], "[1/7] loading data"))


def test_the_bank_example_s_labels_arrive_as_the_docs_tell_it(servers, deployed) -> None:
    """docs/deployments.md, block `labels`: a first champion from the command line, then
    `gatekeeper labels-arrived`; the repository's on-labels deployment gates the batch on the worker
    and ends as the page says (NotRetrained), with its event."""
    from tests.doc_commands import DocScript
    from tests.integration.helpers import decision_events_filter

    ports = {"4200": str(servers.prefect_port), "5000": str(servers.mlflow_port)}
    script = DocScript("docs/deployments.md", "labels", servers.root, servers.env, replace=ports)
    assert "BOOTSTRAP" in script.run("gatekeeper run --config examples/bank_marketing/bootstrap.yaml").stdout
    script.run("gatekeeper labels-arrived --model bank-term-deposit")
    script.finish()
    deployment = deployment_id(servers, "bank-term-deposit-on-labels")
    [run] = wait_until(
        "the bank's triggered gate run finished",
        lambda: [r for r in runs_of(servers, deployment) if r["state_type"] in TERMINAL],
        timeout=600,
        every=2,
    )
    assert (run["state_type"], run["state_name"]) == ("COMPLETED", "NotRetrained"), run["state"]
    assert run["parameters"]["new_labels"].endswith("examples/bank_marketing/data/new_labels.csv.gz")
    # the server stores events as they stream in: the run's final state can be read before its event
    wait_until(
        "the bank run's decision event is stored",
        lambda: (
            "gatekeeper.decision.not_retrained"
            in {
                e["event"]
                for e in servers.api(
                    "POST", "/events/filter", json=decision_events_filter("bank-term-deposit")
                )["events"]
            }
        ),
        timeout=60,
        every=1,
    )


def test_labels_arrived_triggers_the_gate_with_the_batch_from_the_event(servers, deployed, two_arrivals):
    batch = str(deployed["server-gate"].parent / "new_labels.parquet")
    for run in two_arrivals:
        assert run["state_type"] == "COMPLETED", run["state"]
        assert run["parameters"]["new_labels"] == batch
        assert run["parameters"]["model_name"] == "server-gate"
        assert run["name"].startswith("gate-server-gate-20")
    first = two_arrivals[0]
    report = artifacts_of(servers, first["id"], "gate-server-gate")[0]
    assert report["description"] == "server-gate: promoted (candidate v2 vs champion v1)"
    assert "# server-gate: PROMOTED" in report["data"]
    assert "get-artifact?path=segment_forest.png" in report["data"]  # the forest plot, from MLflow
    assert aliases(servers, "server-gate") == {"champion": "2", "previous-champion": "1"}
    assert version_tags(servers, "server-gate", "2")["gate.flow_run_id"] == first["id"]
    # the worker's flow run trained with sleeping OpenMP threads (see gatekeeper/__init__.py)
    assert log_time(servers, first["id"], "OpenMP wait policy PASSIVE (gatekeeper's default")


def test_one_gate_run_per_model_at_a_time(servers, two_arrivals) -> None:
    """The second arrival waited for the first gate to finish and judged against its champion."""
    first, second = two_arrivals
    first_done = log_time(servers, first["id"], "[7/7] publishing")
    second_started = log_time(servers, second["id"], "[1/7] loading data")
    assert second_started > first_done
    assert log_time(servers, second["id"], "acquiring gatekeeper-model-server-gate")
    report = artifacts_of(servers, second["id"], "gate-server-gate")[0]
    assert "champion version **2**" in report["data"], report["data"][:800]
    assert "PROMOTED" not in report["data"]


def test_the_scheduled_deployment_gates_the_batch_its_config_names(servers, deployed, two_arrivals) -> None:
    """What the cron schedule starts, started now: only `config` is passed; the lock is free again."""
    servers.run(str(BIN / "prefect"), "deployment", "run", "retraining-gate/server-gate-scheduled")
    deployment = deployment_id(servers, "server-gate-scheduled")
    run = wait_until(
        "the scheduled deployment's run finished",
        lambda: [r for r in runs_of(servers, deployment) if r["state_type"] in TERMINAL],
        timeout=600,
        every=2,
    )[0]
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["parameters"] == {"config": str(deployed["server-gate"]), "model_name": "server-gate"}
    assert run["name"].startswith("gate-server-gate-20")  # named from its parameters
    report = artifacts_of(servers, run["id"], "gate-server-gate")[0]
    assert "champion version **2**" in report["data"]  # judged against what the arrivals left
    assert str(deployed["server-gate"].parent / "new_labels.parquet") in str(logs_of(servers, run["id"]))


# ----------------------------------------------------------------------------- a new model version


@pytest.fixture(scope="module")
def receiver(servers: Servers) -> dict[str, str]:
    """`gatekeeper webhook serve` and the MLflow webhook pointing at it, as docs/deployments.md wires
    them (block `webhook`, on a free port): the receiver judges every model's new versions."""
    import httpx

    from tests.doc_commands import DocScript

    port = free_port()
    ports = {"8787": str(port), "5000": str(servers.mlflow_port)}
    script = DocScript(
        "docs/deployments.md", "webhook", servers.root, servers.env, replace=ports, logs=servers.root
    )
    script.run("export GATE_WEBHOOK_SECRET=")
    servers.processes["webhook-receiver"] = script.start(
        "gatekeeper webhook serve",
        lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200,
        name="webhook-receiver",
    )
    done = script.run("gatekeeper webhook register")
    script.finish()
    webhook_id = done.stdout.split("MLflow webhook ", 1)[1].split()[0]
    url = f"http://127.0.0.1:{port}/mlflow-webhook"
    return {"url": url, "webhook_id": webhook_id, "secret": script.env["GATE_WEBHOOK_SECRET"]}


def team_registers(servers: Servers, model: str, config: Path) -> str:
    """A team's own training job: fit on the model's data, log the model in a run of its own and
    register it (MLflow's client against the server, no gate code in the registration). Its version."""
    import tempfile

    import mlflow.sklearn
    from mlflow import MlflowClient

    from gatekeeper.config import load_config
    from gatekeeper.data.tables import feature_columns, read_table
    from gatekeeper.train.pipeline import build_default_pipeline

    gate = load_config(config)
    frame = pd.concat([read_table(gate.data.train), read_table(gate.data.new_labels)], ignore_index=True)
    features = feature_columns(gate, frame)
    fitted = build_default_pipeline(gate).fit(frame[features], frame[gate.target])
    client = MlflowClient(tracking_uri=servers.mlflow_url, registry_uri=servers.mlflow_url)
    experiment = client.get_experiment_by_name("team-jobs") or client.get_experiment(
        client.create_experiment("team-jobs")
    )
    run = client.create_run(experiment.experiment_id, run_name="nightly-training")
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.sklearn.save_model(fitted, f"{tmp}/model", serialization_format="cloudpickle")
        client.log_artifacts(run.info.run_id, f"{tmp}/model", "model")
    client.set_terminated(run.info.run_id)
    version = client.create_model_version(
        model, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags={"team": "risk"}
    )
    return str(version.version)


def gate_runs_for(servers: Servers, model: str, candidate: str) -> list[dict[str, Any]]:
    deployment = deployment_id(servers, f"{model}-on-new-version")
    return [r for r in runs_of(servers, deployment) if r["parameters"].get("candidate") == candidate]


def test_a_version_registered_outside_the_gate_runs_the_gate(servers, deployed, receiver) -> None:
    """MLflow webhook -> receiver -> gatekeeper.model_version.created -> the deployment's gate run,
    whose decision lands on the version in the registry."""
    bootstrap(servers, "server-ext")  # the gate's own version 1: its webhook delivery is skipped
    version = team_registers(servers, "server-ext", deployed["server-ext"])
    assert version == "2"
    # the run's end, not the first tag: the decision's tags are set one by one (CI once read them between)
    runs = wait_until(
        "the gate run for version 2 finished",
        lambda: [
            r
            for r in gate_runs_for(servers, "server-ext", "models:/server-ext/2")
            if r["state_type"] in TERMINAL
        ],
        timeout=600,
        every=2,
    )
    assert len(gate_runs_for(servers, "server-ext", "models:/server-ext/2")) == 1, runs
    run = runs[0]
    tags = version_tags(servers, "server-ext", "2")
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["parameters"]["model_name"] == "server-ext"
    assert tags["gate.flow_run_id"] == run["id"]
    assert tags["gate.candidate_uri"] == "models:/server-ext/2"
    assert tags["team"] == "risk"
    champion = aliases(servers, "server-ext")["champion"]
    assert champion == ("2" if tags["gate.decision"] == "promoted" else "1"), tags["gate.decision"]
    report = artifacts_of(servers, run["id"], "gate-server-ext")[0]
    assert "trained outside the gate: `models:/server-ext/2`" in report["data"]
    assert "browser=" in report["data"]  # the per-segment table
    assert "skipped" in servers.log("webhook-receiver")  # version 1's delivery (the gate's own)


def test_unsigned_deliveries_are_refused_and_a_burst_runs_the_gate_once(servers, deployed, receiver) -> None:
    import threading
    import time
    import uuid

    import httpx
    from mlflow import MlflowClient
    from mlflow.webhooks.delivery import _generate_hmac_signature

    client = MlflowClient(tracking_uri=servers.mlflow_url, registry_uri=servers.mlflow_url)
    client.update_webhook(receiver["webhook_id"], status="DISABLED")  # this test sends the deliveries
    time.sleep(3)  # MLflow re-reads its webhooks every MLFLOW_WEBHOOK_CACHE_TTL (1 s here)
    try:
        version = team_registers(servers, "server-ext", deployed["server-ext"])
    finally:
        client.update_webhook(receiver["webhook_id"], status="ACTIVE")
    body = json.dumps(
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": "2026-11-25T00:00:00+00:00",
            "data": {"name": "server-ext", "version": version, "source": "s", "run_id": None, "tags": {}},
        }
    )
    delivery, stamp = str(uuid.uuid4()), str(int(time.time()))
    signed = {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": _generate_hmac_signature(receiver["secret"], delivery, stamp, body),
    }
    refused = [
        httpx.post(receiver["url"], content=body, headers={"Content-Type": "application/json"}),
        httpx.post(receiver["url"], content=body, headers={**signed, "X-MLflow-Signature": "v1,AAAA"}),
        httpx.post(receiver["url"], content=body.replace(version, "99"), headers=signed),
        httpx.post(
            receiver["url"],
            content=body,
            headers={**signed, "X-MLflow-Timestamp": str(int(time.time()) - 3600)},
        ),
    ]
    assert [r.status_code for r in refused] == [401, 401, 401, 401], [r.text for r in refused]
    answers: list[int] = []

    def post() -> None:
        answers.append(httpx.post(receiver["url"], content=body, headers=signed, timeout=60).status_code)

    burst = [threading.Thread(target=post) for _ in range(3)]
    for thread in burst:
        thread.start()
    for thread in burst:
        thread.join()
    assert sorted(answers) == [200, 200, 202]
    candidate = f"models:/server-ext/{version}"
    wait_until(
        "the burst's gate run finished",
        lambda: [r for r in gate_runs_for(servers, "server-ext", candidate) if r["state_type"] in TERMINAL],
        timeout=600,
        every=2,
    )
    time.sleep(5)  # a second run from the burst would have been scheduled by now
    assert len(gate_runs_for(servers, "server-ext", candidate)) == 1
    assert len(gate_runs_for(servers, "server-ext", "models:/server-ext/99")) == 0
    assert version_tags(servers, "server-ext", version).get("gate.decision")


# ----------------------------------------------------------------------------- review in the UI


@pytest.fixture(scope="module")
def browser(servers: Servers):
    executable = chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = Browser(executable, servers.root / "chromium-profile")
    yield page
    page.close()


@pytest.fixture
def page(browser: Browser):
    """The browser, left on a blank page after each test: the Prefect UI's live run graph is
    drawn in software here and would take the CPU the gate runs of the next test need."""
    yield browser
    browser.blank()


def wait_for_pause(servers: Servers, deployment: str) -> dict[str, Any]:
    return wait_until(
        "the review run paused",
        lambda: [r for r in runs_of(servers, deployment) if r["state_type"] == "PAUSED"],
        timeout=600,
        every=2,
    )[0]


def wait_for_end(servers: Servers, flow_run: str) -> dict[str, Any]:
    return wait_until(
        "the resumed run finished",
        lambda: (r := servers.api("GET", f"/flow_runs/{flow_run}"))["state_type"] in TERMINAL and r,
        timeout=300,
        every=2,
    )


def review_in_ui(servers: Servers, browser: Browser, flow_run: str, answer: list[str], tries: int = 3) -> int:
    """Answer the paused run's form as a person does (Resume, pick the decision, type the comment and
    the name, Submit) and wait, the page still open, until the run leaves Paused; return the try that
    did it. The UI checks the answer with the server before it posts it, and does nothing visible
    when that check's request fails (a busy SQLite server answers 503); a person then submits again,
    and so does this, at most `tries` times, each failed try described in the error."""
    paused = lambda: servers.api("GET", f"/flow_runs/{flow_run}")["state_type"] == "PAUSED"  # noqa: E731
    seen: list[str] = []
    for attempt in range(1, tries + 1):
        browser.failed_requests.clear()
        browser.goto(f"{servers.ui_url}/runs/flow-run/{flow_run}")
        browser.wait_for_text("Resume")
        browser.click("Resume")
        # the form's description renders after its fields: a Submit before it may land elsewhere
        browser.wait_for_text("needs review")
        browser.wait_for_text("Reviewer")
        browser.choose("Decision", answer[0])
        browser.type_into(0, answer[1])
        browser.type_into(1, answer[2])
        wait_until("the form holds the answer", lambda: set(answer) <= set(browser.field_values()), 20)
        browser.screenshot(OUTPUT / "review-form-filled.png")
        browser.click("Submit")
        try:
            wait_until("the run resumed by the UI's Submit", lambda: not paused(), 60, every=1)
        except TimeoutError:
            browser.screenshot(OUTPUT / f"review-form-not-submitted-{attempt}.png")
            seen.append(
                f"try {attempt}: still paused 60 s after Submit; on the page: {browser.overlay_text()}; "
                f"requests that failed: {browser.failed_requests or 'none'}"
            )
            if paused():
                continue
        if seen:
            # shown in the run's warnings summary, so a CI log says when a try was dropped
            warnings.warn("the review form needed another Submit:\n" + "\n".join(seen), stacklevel=2)
        return attempt
    server_errors = [line for line in servers.log("prefect-server").splitlines() if "rror" in line][-10:]
    raise AssertionError(
        f"the run is still paused after {tries} Submits of the form:\n"
        + "\n".join(seen)
        + "\nthe Prefect server's last error lines:\n"
        + "\n".join(server_errors)
    )


def show_report(browser: Browser, servers: Servers, run: dict[str, Any], model: str) -> str:
    """Open the flow run's page, its Artifacts tab, then the decision report; return the page text."""
    browser.goto(f"{servers.ui_url}/runs/flow-run/{run['id']}")
    browser.wait_for_text(run["name"])
    browser.click("Artifacts")
    browser.wait_for_text(f"gate-{model}-segments")
    browser.click(f"gate-{model}")
    return browser.wait_for_text("Why")


def test_the_flow_run_page_shows_the_decision(servers, two_arrivals, page) -> None:
    first = two_arrivals[0]
    # the runs list tells decisions apart: each run's state is named after its decision
    assert servers.api("GET", f"/flow_runs/{first['id']}")["state"]["name"] == "Promoted"
    page.goto(f"{servers.ui_url}/runs")
    page.wait_for_text("Promoted")
    page.screenshot(OUTPUT / "runs-list.png")
    page.goto(f"{servers.ui_url}/runs/flow-run/{first['id']}")
    page.wait_for_text(first["name"])
    page.click("Artifacts")
    listing = page.wait_for_text("server-gate: promoted (candidate v2 vs champion v1)")
    assert "gate-server-gate-segments" in listing
    page.screenshot(OUTPUT / "flow-run-artifacts.png")
    text = show_report(page, servers, first, "server-gate")
    assert "server-gate: PROMOTED" in text
    assert "Promoted: the candidate is the new champion" in text
    page.screenshot(OUTPUT / "decision-report.png")
    # the forest plot is served by the MLflow server and shown inside the report
    loaded = lambda: [w for w in page.loaded_images("segment_forest") if w > 0]  # noqa: E731
    assert wait_until("the forest plot loaded from MLflow", loaded, 30)[0] > 400
    page.scroll_to_image("segment_forest")
    page.screenshot(OUTPUT / "decision-report-forest-plot.png")
    # and as an image artifact of its own
    plots = servers.api(
        "POST", "/artifacts/filter", json={"artifacts": {"key": {"any_": ["gate-server-gate-forest-plot"]}}}
    )
    assert any(a["type"] == "image" and "segment_forest" in str(a["data"]) for a in plots)


def test_needs_review_pauses_for_a_form_and_resumes_with_the_answer(servers, deployed, page) -> None:
    bootstrap(servers, "server-review")
    labels_arrived(servers, "server-review", deployed["server-review"].parent / "new_labels.parquet")
    deployment = deployment_id(servers, "server-review-on-labels")
    paused = wait_for_pause(servers, deployment)
    keyset = paused["state"]["state_details"]["run_input_keyset"]
    schema = servers.api("GET", f"/flow_runs/{paused['id']}/input/{keyset['schema']}")
    assert '"approve", "reject"' in str(schema).replace("'", '"')
    assert aliases(servers, "server-review") == {"champion": "1", "challenger": "2"}

    text = show_report(page, servers, paused, "server-review")
    assert "server-review: NEEDS_REVIEW" in text
    assert "Waiting for a reviewer" in text
    page.screenshot(OUTPUT / "needs-review-report.png")
    page.goto(f"{servers.ui_url}/runs/flow-run/{paused['id']}")
    page.wait_for_text("Resume")
    page.click("Resume")
    page.wait_for_text("Reviewer")
    # the form's description renders after its fields: wait for it, not only for the fields
    form = page.wait_for_text("candidate version 2 needs review")
    assert "approve: the candidate becomes champion" in form
    page.screenshot(OUTPUT / "review-form.png")
    page.blank()

    servers.api(
        "POST",
        f"/flow_runs/{paused['id']}/resume",
        json={"run_input": {"decision": "approve", "comment": "checked the segments", "reviewer": "ci"}},
    )
    done = wait_for_end(servers, paused["id"])
    assert done["state_type"] == "COMPLETED", done["state"]
    assert aliases(servers, "server-review") == {"champion": "2", "previous-champion": "1"}
    tags = version_tags(servers, "server-review", "2")
    assert (tags["gate.decision"], tags["gate.review"], tags["gate.reviewer"]) == (
        "promoted",
        "approved",
        "ci",
    )
    assert tags["gate.review_comment"] == "checked the segments"
    report = artifacts_of(servers, paused["id"], "gate-server-review")[0]
    assert "**Reviewed: approved** by ci" in report["data"]


def test_a_reviewer_rejects_in_the_ui_form(servers, deployed, page) -> None:
    """The form a person fills in the Prefect UI: reject, with a comment and a name."""
    bootstrap(servers, "server-ui")
    labels_arrived(servers, "server-ui", deployed["server-ui"].parent / "new_labels.parquet")
    paused = wait_for_pause(servers, deployment_id(servers, "server-ui-on-labels"))
    answer = ["reject", "the beta segment needs more rows first", "ui-reviewer"]
    review_in_ui(servers, page, paused["id"], answer)
    page.blank()
    done = wait_for_end(servers, paused["id"])
    assert done["state_type"] == "COMPLETED", done["state"]
    assert aliases(servers, "server-ui") == {"champion": "1", "challenger": "2"}
    tags = version_tags(servers, "server-ui", "2")
    assert (tags["gate.decision"], tags["gate.review"]) == ("rejected", "rejected")
    assert tags["gate.reviewer"] == "ui-reviewer"
    assert tags["gate.review_comment"] == "the beta segment needs more rows first"
    report = artifacts_of(servers, paused["id"], "gate-server-ui")[0]
    assert "**Reviewed: rejected** by ui-reviewer" in report["data"]


def test_the_shipped_automation_fires_on_a_blocked_run(servers, page) -> None:
    """`gatekeeper automations install` on `prefect server start`, then a run from the command line
    that blocks its batch: the webhook gets the notification, the runs list shows `Blocked`."""
    from tests.integration.helpers import Inbox

    inbox = Inbox()
    try:
        from tests.doc_commands import DocScript

        hook = {"https://hooks.example.com/gate": inbox.url}  # the docs' example receiver, here a real one
        script = DocScript("docs/deployments.md", "automations", servers.root, servers.env, replace=hook)
        script.run("gatekeeper automations install")
        script.finish()
        path = model_config(servers, "server-blocked", "broken-feature")
        done = servers.run(str(BIN / "gatekeeper"), "run", "--config", str(path))
        assert "BLOCKED" in done.stdout, done.stdout
        [message] = wait_until(
            "the blocked run's notification",
            lambda: [m for m in inbox.received if "server-blocked" in str(m.get("subject"))],
            120,
        )
        assert "server-blocked: blocked" in message["body"]
    finally:
        inbox.close()
    page.goto(f"{servers.ui_url}/runs")
    page.wait_for_text("Blocked")
    page.screenshot(OUTPUT / "runs-list-blocked.png")
    # every gate run this server holds ended in the state named after its decision (its tag), whatever
    # ran before this test in the module (Bootstrapped, Promoted, NotRetrained, ... when the module runs)
    from gatekeeper.vocabulary import STATE_NAMES

    decided = {}
    for run in servers.api("POST", "/flow_runs/filter", json={"limit": 200}):
        kinds = [t.removeprefix("decision:") for t in run["tags"] if t.startswith("decision:")]
        if run["state_type"] == "COMPLETED" and kinds:
            assert run["state_name"] == STATE_NAMES[kinds[0]], (run["name"], run["tags"])
            decided[run["state_name"]] = run["tags"]
    assert "model:server-blocked" in decided["Blocked"], decided


def test_a_password_in_the_tracking_uri_is_printed_and_stored_nowhere(servers, two_arrivals) -> None:
    """server-gate's bootstrap ran from the command line with a password in its MLflow URI, against
    the real MLflow server, recorded by the real Prefect server: the password is not on the
    terminal (MLflow's own "View run ... at: <URI>" lines included), nor in the model's flow runs,
    their logs, artifacts or decision events."""
    from tests.integration.helpers import decision_events_filter

    done = BOOTSTRAPS["server-gate"]
    assert SECRET not in done.stdout + done.stderr
    runs = servers.api("POST", "/flow_runs/filter", json={"flow_runs": {"name": {"like_": "server-gate"}}})
    assert len(runs) >= 3, "the bootstrap and the two triggered runs were recorded by the server"
    ids = [r["id"] for r in runs]
    stored = [
        runs,
        servers.api("POST", "/logs/filter", json={"logs": {"flow_run_id": {"any_": ids}}, "limit": 200}),
        servers.api("POST", "/artifacts/filter", json={"flow_runs": {"id": {"any_": ids}}}),
        servers.api("POST", "/events/filter", json=decision_events_filter("server-gate")),
    ]
    text = json.dumps(stored)
    assert "127.0.0.1" in text  # the records name the server
    assert SECRET not in text
