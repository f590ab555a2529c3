"""The demo's scenarios through the real flow, real MLflow registry and real GX suites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
import yaml

from gatekeeper.report.markdown import artifact_key
from gatekeeper.vocabulary import SegmentStatus
from tests.integration.helpers import aliases, bootstrap_and_run, mlflow_client, read_artifacts


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gate")


@pytest.fixture(scope="module")
def improves(workdir: Path):
    return bootstrap_and_run("improves", workdir / "improves")


@pytest.fixture(scope="module")
def hurts(workdir: Path):
    return bootstrap_and_run("hurts-key-segment", workdir / "hurts-key-segment")


@pytest.fixture(scope="module")
def broken(workdir: Path):
    return bootstrap_and_run("broken-feature", workdir / "broken-feature")


@pytest.fixture(scope="module")
def unconfigured(workdir: Path):
    return bootstrap_and_run("unconfigured-slice-fault", workdir / "unconfigured-slice-fault")


def test_bootstrap_registers_first_champion(improves) -> None:
    first, _, config = improves
    assert first["decision"] == "bootstrap"
    assert first["champion_version"] is None
    assert first["candidate_version"] == "1"
    version = mlflow_client(config).get_model_version(config.model_name, "1")
    assert version.tags["gate.decision"] == "bootstrap"


def test_improves_promotes_and_moves_aliases(improves) -> None:
    _, result, config = improves
    assert result["decision"] == "promoted"
    assert result["overall"]["delta"] >= config.min_improvement
    assert aliases(config) == {"champion": "2", "previous-champion": "1"}
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert tags["gate.decision"] == "promoted"
    assert tags["gate.flow_run_id"] == result["prefect_flow_run_id"]
    assert tags["gate.previous_champion"] == "1"
    assert "overall_improvement" in tags["gate.reasons"]
    assert 0 < result["overall"]["churn"] < 1, "the share of flipped decisions is reported"
    gaps = {c["observed"]["column"] for c in result["checks"] if c["check"] == "segment_gap"}
    assert {"browser", "country"} <= gaps


def test_improves_publishes_decision_in_mlflow_and_prefect(improves) -> None:
    _, result, config = improves
    client = mlflow_client(config)
    run = client.get_run(result["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["gate.decision"] == "promoted"
    assert {p for p in run.data.params if p.startswith("data.")} >= {
        "data.train.sha256",
        "data.new_labels.sha256",
        "data.evaluation.sha256",
    }
    local = Path(client.download_artifacts(result["mlflow_run_id"], "decision.json"))
    assert json.loads(local.read_text())["decision"] == "promoted"
    artifacts = {a.path for a in client.list_artifacts(result["mlflow_run_id"])}
    assert {"decision.json", "segments.csv", "report.md", "gate.yaml", "model"} <= artifacts
    markdown = read_artifacts(artifact_key(config.model_name), result["prefect_flow_run_id"])
    assert len(markdown) == 1
    assert "PROMOTED" in markdown[0].data
    assert "browser=chrome-beta" in markdown[0].data
    table = read_artifacts(artifact_key(config.model_name, "segments"), result["prefect_flow_run_id"])
    assert len(table) == 1


def test_segments_include_key_segment_and_intersections(improves) -> None:
    _, result, _ = improves
    names = {s["segment"]: s for s in result["segments"]}
    assert names["browser=chrome-beta"]["key"] is True
    assert names["browser=chrome-beta"]["status"] in {"improved", "no_change", "inconclusive"}
    assert "browser=chrome & device=mobile" in names
    statuses = set(get_args(SegmentStatus)) - {"baseline"}  # a champion existed: every row is judged
    assert {s["status"] for s in result["segments"]} <= statuses
    assert all(
        s["ci_low"] <= s["delta"] <= s["ci_high"] for s in result["segments"] if s["ci_low"] is not None
    )
    assert result["overall"]["status"] == "improved"
    assert result["correction"] == "holm"
    assert isinstance(result["discovered_regressions"], list)


def test_hurts_key_segment_rejects_and_names_the_segment(hurts) -> None:
    _, result, config = hurts
    assert result["decision"] == "rejected"
    assert result["overall"]["delta"] > 0, "better on average"
    (reason,) = result["reasons"]
    assert reason["check"] == "key_segment_regression"
    assert reason["segment"] == "browser=chrome-beta"
    assert aliases(config) == {"champion": "1", "challenger": "2"}
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert tags["gate.decision"] == "rejected"
    assert "browser=chrome-beta" in tags["gate.reasons"]
    markdown = read_artifacts(artifact_key(config.model_name), result["prefect_flow_run_id"])
    assert len(markdown) == 1
    assert "REJECTED" in markdown[0].data
    assert "| browser=chrome-beta | yes |" in markdown[0].data


def test_broken_feature_blocks_names_feature_and_quarantines(broken) -> None:
    _, result, config = broken
    assert result["decision"] == "blocked"
    assert result["candidate_version"] is None
    assert result["champion_version"] == "1", "the report says which champion stays"
    columns = {r.get("column") for r in result["reasons"]}
    assert "cookie_age_days" in columns
    diagnosed = {(d["kind"], d["feature"], d["segment"]) for d in result["diagnosis"]}
    assert ("broken_feature", "cookie_age_days", "browser=safari") in diagnosed
    assert any("null rate 0.0% -> 100.0%" in d["evidence"] for d in result["diagnosis"])
    folder = Path(result["quarantine"])
    assert (folder / "new_labels.parquet").exists()
    report = json.loads((folder / "report.json").read_text())
    assert any(c["column"] == "cookie_age_days" for c in report["failed_checks"])
    assert Path(config.data.new_labels).exists(), "the original batch is never deleted"
    versions = mlflow_client(config).search_model_versions(f"name='{config.model_name}'")
    assert [str(v.version) for v in versions] == ["1"], "no candidate is trained on broken data"
    assert aliases(config) == {"champion": "1"}
    markdown = read_artifacts(artifact_key(config.model_name))
    assert any("BLOCKED" in a.data and "cookie_age_days" in a.data for a in markdown)


def test_fault_in_a_slice_nobody_configured_blocks_and_names_the_slice(unconfigured) -> None:
    """`hour` is in no configured segment; every configured segment holds a quarter of broken rows,
    under the per-segment floors. The slice search finds the slice and the run is blocked."""
    _, result, config = unconfigured
    assert result["decision"] == "blocked"
    assert result["candidate_version"] is None
    found = [d for d in result["diagnosis"] if d["kind"] == "broken_feature"]
    assert [(d["feature"], d["segment"]) for d in found] == [("account_age_days", "hour < 6")]
    assert "became constant (0.0)" in found[0]["evidence"]
    assert "slices nobody configured" in found[0]["evidence"]
    folder = Path(result["quarantine"])
    assert (folder / "new_labels.parquet").exists()
    assert Path(config.data.new_labels).exists()
    assert aliases(config) == {"champion": "1"}
    versions = mlflow_client(config).search_model_versions(f"name='{config.model_name}'")
    assert [str(v.version) for v in versions] == ["1"], "no candidate is trained on broken data"
    markdown = read_artifacts(artifact_key(config.model_name))
    assert any("BLOCKED" in a.data and "hour < 6" in a.data for a in markdown)


def test_gain_that_reverses_in_the_newest_time_fold_is_rejected(workdir: Path) -> None:
    """Better on most of the evaluation window, worse in its newest quarter: not promoted, and the
    decision, the report and the artifact show the comparison per time fold."""
    _, result, config = bootstrap_and_run("gain-reverses-over-time", workdir / "gain-reverses-over-time")
    assert result["overall"]["delta"] > 0, "a comparison over the whole window alone would promote"
    assert result["decision"] == "rejected"
    (finding,) = [c for c in result["checks"] if c["check"] == "stability.time"]
    assert finding["effect"] == "reject"
    assert "gain not stable over time" in finding["message"]
    folds = result["time_folds"]
    assert [f["segment"].split(" (")[0] for f in folds] == [f"time fold {i}/4" for i in range(1, 5)]
    assert folds[-1]["delta"] < 0 < folds[0]["delta"]
    assert aliases(config)["champion"] == "1"
    markdown = read_artifacts(artifact_key(config.model_name))
    assert any("Over time: the comparison per fold" in a.data for a in markdown)


@pytest.mark.parametrize(
    ("scenario", "state"), [("improves", "Promoted"), ("hurts", "Rejected"), ("broken", "Blocked")]
)
def test_each_run_ends_in_a_state_named_after_its_decision_with_its_tags_and_event(
    scenario: str, state: str, request: pytest.FixtureRequest
) -> None:
    """The runs list tells decisions apart; automations match the event (about the model, with the
    versions, segment findings and links)."""
    from gatekeeper.report.events import EVENT_PREFIX
    from tests.integration.helpers import read_decision_events, read_flow_run
    from tests.integration.servers import wait_until

    _, result, config = request.getfixturevalue(scenario)
    run = read_flow_run(result["prefect_flow_run_id"])
    assert run.state.type.value == "COMPLETED"
    assert run.state.name == state
    assert run.state.message.startswith(f"{config.model_name}: {result['decision']}")
    assert {f"model:{config.model_name}", f"decision:{result['decision']}"} <= set(run.tags)
    [progress] = read_artifacts(artifact_key(config.model_name, "progress"), result["prefect_flow_run_id"])
    assert float(progress.data) == 100.0  # the progress artifact followed the run to its end
    assert progress.description.startswith("done: ")
    events = wait_until(
        "the decision event",
        lambda: [
            e
            for e in read_decision_events(config.model_name)
            if e["event"] == EVENT_PREFIX + result["decision"]
        ],
        timeout=60,
    )
    [event] = events
    assert event["resource"]["gatekeeper.decision"] == result["decision"]
    assert event["payload"]["state"] == state
    assert event["payload"]["reasons"]
    roles = {r["prefect.resource.role"] for r in event["related"]}
    assert "flow-run" in roles  # emitted inside the run: Prefect relates it
    if result["candidate_version"]:
        assert "candidate" in roles
    if scenario == "hurts":
        segments = {
            r["prefect.resource.name"]
            for r in event["related"]
            if r["prefect.resource.role"] == "segment-finding"
        }
        assert "browser=chrome-beta" in segments


def test_mlflow_holds_what_its_docs_teach(improves) -> None:
    """Signature and input example on the logged model, the three tables as dataset inputs of the
    gate run, the verdict in the version's description, a run name per decision, and requirements a
    serving environment can install: the model loads where this package cannot be imported."""
    import subprocess
    import sys

    first, result, config = improves
    client = mlflow_client(config)
    version = client.get_model_version(config.model_name, result["candidate_version"])
    assert version.description.startswith("**PROMOTED** by the retraining gatekeeper")
    run = client.get_run(result["mlflow_run_id"])
    assert run.info.run_name.startswith(f"promoted-{config.model_name}-")
    assert client.get_run(first["mlflow_run_id"]).info.run_name.startswith(f"bootstrap-{config.model_name}-")
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"train", "new_labels", "evaluation"}
    contexts = {name: {t.key: t.value for t in d.tags}["mlflow.data.context"] for name, d in inputs.items()}
    assert contexts == {"train": "training", "new_labels": "training", "evaluation": "evaluation"}
    model_dir = Path(client.download_artifacts(result["mlflow_run_id"], "model"))
    meta = yaml.safe_load((model_dir / "MLmodel").read_text())
    assert "signature" in meta
    assert meta["signature"]["inputs"]
    assert "saved_input_example_info" in meta
    requirements = (model_dir / "requirements.txt").read_text()
    assert "retraining-gatekeeper" not in requirements
    blocked = (
        "import sys; sys.modules['gatekeeper'] = None; import mlflow.sklearn, mlflow.pyfunc, pandas as pd; "
        f"m = mlflow.sklearn.load_model({str(model_dir)!r}); "
        f"x = pd.read_json({str(model_dir / 'input_example.json')!r}, orient='split'); "
        f"served = mlflow.pyfunc.load_model({str(model_dir)!r}).predict(x); "
        "print(m.predict_proba(x).shape, served.shape)"
    )
    done = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # served as judged: the pyfunc returns the class scores the signature declares, not labels
    proba, served = done.stdout.strip().splitlines()[-1].split(") (")
    assert proba + ")" == "(" + served, done.stdout
    assert '"shape": [-1, 2]' in meta["signature"]["outputs"], meta["signature"]["outputs"]
