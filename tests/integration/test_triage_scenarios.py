"""Retraining is not always the fix: the triage scenarios through the real flow."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.report.markdown import artifact_key
from tests.integration.bootstraps import bootstrapped
from tests.integration.helpers import aliases, bootstrap_and_run, mlflow_client, read_artifacts


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("triage")


def test_no_retrain_needed_skips_training_and_says_what_was_saved(workdir: Path) -> None:
    _, result, config = bootstrap_and_run("no-retrain-needed", workdir / "no-retrain-needed")
    assert result["decision"] == "not_retrained"
    assert result["candidate_version"] is None
    assert result["champion_version"] == "1"
    (diagnosis,) = result["diagnosis"]
    assert diagnosis["kind"] == "no_degradation"
    assert "1000 new rows" in diagnosis["advice"]
    curve = result["triage"]["value"]
    assert curve["worth_retraining"] is False
    assert curve["new_rows"] == 1000
    assert curve["threshold"] == pytest.approx(0.022)
    assert curve["expected_gain"] < curve["threshold"]
    assert "not expected to pay for it: expected roc_auc gain from 1000 new rows" in diagnosis["evidence"]
    overall = next(d for d in result["triage"]["degradation"] if d["segment"] == "overall")
    assert overall["degraded"] is False
    versions = mlflow_client(config).search_model_versions(f"name='{config.model_name}'")
    assert [str(v.version) for v in versions] == ["1"], "nothing was trained"
    assert aliases(config) == {"champion": "1"}
    markdown = read_artifacts(artifact_key(config.model_name))
    assert any("NOT_RETRAINED" in a.data and "no_degradation" in a.data for a in markdown)


def test_new_labels_worth_a_retrain_are_used_without_degradation(workdir: Path) -> None:
    """No degradation is not no gain: 30,000 new labels of an unchanged world, 7x what the
    champion learned from. The learning curve expects a clear gain, so the gate retrains, and the
    comparison on the same evaluation rows confirms it."""
    _, result, config = bootstrap_and_run("more-data-pays", workdir / "more-data-pays")
    overall = next(d for d in result["triage"]["degradation"] if d["segment"] == "overall")
    assert overall["degraded"] is False
    curve = result["triage"]["value"]
    assert curve["worth_retraining"] is True
    assert curve["ci_low"] <= curve["expected_gain"] <= curve["ci_high"]
    assert len(curve["sizes"]) == len(curve["scores"]) >= 5
    said = next(c for c in result["checks"] if c["check"] == "triage.value_of_new_labels")
    assert said["effect"] == "none"
    assert "retraining" in said["message"]
    assert result["candidate_version"] == "2"
    assert result["decision"] == "promoted"
    assert result["overall"]["delta"] >= config.min_improvement
    markdown = read_artifacts(artifact_key(config.model_name))
    assert any("what the new labels are worth" in a.data for a in markdown)


def test_label_noise_blocks_before_training_and_names_the_segment(workdir: Path) -> None:
    _, result, config = bootstrap_and_run("label-noise", workdir / "label-noise")
    assert result["decision"] == "blocked"
    assert result["candidate_version"] is None
    kinds = {(d["kind"], d["segment"]) for d in result["diagnosis"]}
    assert ("label_quality", "country=BR") in kinds
    finding = next(r for r in result["reasons"] if r["segment"] == "country=BR")
    assert "most suspect rows" in finding["message"]
    assert Path(result["quarantine"], "new_labels.parquet").exists()
    assert aliases(config) == {"champion": "1"}


def test_drift_beyond_retraining_rejects_with_the_changed_relations(workdir: Path) -> None:
    _, result, config = bootstrap_and_run("drift-beyond-retraining", workdir / "drift-beyond-retraining")
    assert result["decision"] == "rejected"
    (diagnosis,) = [d for d in result["diagnosis"] if d["kind"] == "concept_drift_beyond_retraining"]
    assert "Features whose relation to the target changed most" in diagnosis["evidence"]
    assert "revisit the features" in diagnosis["advice"]
    assert aliases(config) == {"champion": "1", "challenger": "2"}, "the candidate stays registered"
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert "concept_drift_beyond_retraining" in tags["gate.reasons"]


def test_small_key_segment_asks_for_data_with_a_number(workdir: Path) -> None:
    _, result, _ = bootstrap_and_run("small-segment-needs-data", workdir / "small-segment-needs-data")
    assert result["decision"] == "blocked"
    (diagnosis,) = [d for d in result["diagnosis"] if d["kind"] == "small_segment_needs_data"]
    assert diagnosis["segment"] == "browser=chrome-beta"
    assert "collect more labelled rows of browser=chrome-beta" in diagnosis["advice"]
    row = next(s for s in result["segments"] if s["segment"] == "browser=chrome-beta")
    assert row["status"] == "insufficient_data"
    assert row["n"] == 120
    assert row["rows_needed"] > 120


def test_labels_collapsed_in_a_slice_nobody_configured_block_as_label_quality(workdir: Path) -> None:
    """A labelling rule fills a default: every tablet transaction of the batch is labelled fraud.
    `device` alone is in no configured segment and the features there are as before: the slice
    search names the slice and the run is blocked as a label fault, before any training."""
    import pandas as pd

    from gatekeeper.demo import simulate
    from gatekeeper.demo.scenarios import demo_config
    from tests.integration.helpers import run_gate

    model, folder = "demo-improves", workdir / "label-collapse"
    bootstrapped(model, folder)
    files = simulate.write_scenario("improves", folder / model / "batch")
    batch = pd.read_parquet(files.new_labels)
    batch.loc[batch["device"] == "tablet", "is_fraud"] = 1
    batch.to_parquet(files.new_labels, index=False)
    config = demo_config(model, files, folder)
    result = run_gate(config)
    assert result["decision"] == "blocked"
    assert result["candidate_version"] is None
    found = [d for d in result["diagnosis"] if d["segment"] == "device=tablet"]
    assert [d["kind"] for d in found] == ["label_quality"]
    assert "labels collapsed to 1 where device=tablet" in found[0]["evidence"]
    assert not [d for d in result["diagnosis"] if d["kind"] == "broken_feature"], "the features are fine"
    assert Path(result["quarantine"], "new_labels.parquet").exists()
    assert aliases(config) == {"champion": "1"}


def test_cluster_column_resamples_entities_through_the_real_flow(workdir: Path) -> None:
    """Evaluation rows of 400 customers: with `cluster_column` the decision's intervals come from
    resampling customers (the method says so); a config naming a column the rows lack blocks."""
    import numpy as np
    import pandas as pd

    from gatekeeper.demo import simulate
    from gatekeeper.demo.scenarios import demo_config
    from tests.integration.helpers import run_gate

    model, folder = "demo-improves", workdir / "clustered"
    bootstrapped(model, folder)
    files = simulate.write_scenario("improves", folder / model / "batch")
    evaluation = pd.read_parquet(files.evaluation)
    evaluation["customer_id"] = np.random.default_rng(0).integers(0, 400, len(evaluation))
    evaluation.to_parquet(files.evaluation, index=False)
    config = demo_config(model, files, folder)
    blocked = run_gate(config.model_copy(update={"cluster_column": "account"}))
    assert blocked["decision"] == "blocked"
    assert any("`cluster_column` is 'account'" in r["message"] for r in blocked["reasons"])
    result = run_gate(config.model_copy(update={"cluster_column": "customer_id"}))
    assert result["overall"]["method"].endswith("over 400 clusters")
    markdown = read_artifacts(artifact_key(config.model_name), result["prefect_flow_run_id"])
    assert any("of whole clusters (400 clusters)" in a.data for a in markdown)
    assert result["decision"] == "promoted"
