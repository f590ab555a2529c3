"""The demo's worlds whose rows are not independent, through the real flow, MLflow registry and GX
suites: a time-ordered world whose fraud campaigns and exchange rate move by nature (not blocked),
and a regression world whose new labels in one store arrive halved (blocked, named)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.report.markdown import artifact_key
from tests.integration.helpers import aliases, bootstrap_and_run, mlflow_client, read_artifacts


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def test_a_time_ordered_world_that_moves_by_nature_is_not_blocked(workdir: Path) -> None:
    """The new week sits inside one exchange-rate period: fx_rate is one value in every new row, as
    it was for longer stretches in the reference (a gate counting rows, and not how long the rate
    stays put, blocked this batch as a constant feature)."""
    first, result, config = bootstrap_and_run("natural-regimes", workdir / "natural-regimes")
    assert first["decision"] == "bootstrap"
    assert result["decision"] != "blocked", result["reasons"]
    assert not [c for c in result["checks"] if c["effect"] == "block"]
    assert not [d for d in result["diagnosis"] if d["kind"] in ("broken_feature", "label_quality")]
    assert aliases(config)["champion"] == "1" or result["decision"] == "promoted"


def test_a_regression_label_fault_in_one_segment_is_blocked_and_named(workdir: Path) -> None:
    _, result, config = bootstrap_and_run("regression-label-fault", workdir / "regression-label-fault")
    assert result["decision"] == "blocked"
    assert result["candidate_version"] is None
    found = [d for d in result["diagnosis"] if d["kind"] == "label_quality"]
    assert [d["segment"] for d in found] == ["store=S3"], result["diagnosis"]
    assert "labels moved where the features did not" in found[0]["evidence"]
    (reason,) = [r for r in result["reasons"] if r["check"] == "labels.shift"]
    assert reason["column"] == "basket_value"
    assert (Path(result["quarantine"]) / "new_labels.parquet").exists()
    versions = mlflow_client(config).search_model_versions(f"name='{config.model_name}'")
    assert [str(v.version) for v in versions] == ["1"], "no candidate is trained on wrong labels"
    assert aliases(config) == {"champion": "1"}
    markdown = read_artifacts(artifact_key(config.model_name))
    assert any("BLOCKED" in a.data and "store=S3" in a.data for a in markdown)
