"""needs_review through the real flow, settled from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper import simulate
from gatekeeper.cli import main
from gatekeeper.demo import demo_config
from tests.integration.conftest import aliases, mlflow_client, run_gate


@pytest.fixture(scope="module")
def waiting(tmp_path_factory: pytest.TempPathFactory):
    """Two models whose improved candidate (version 2) waits for a person."""
    workdir = tmp_path_factory.mktemp("review")
    configs = {}
    for model in ("review-approve", "review-reject"):
        boot = demo_config(model, simulate.write_bootstrap(workdir / model / "boot"), workdir)
        assert run_gate(boot)["decision"] == "bootstrap"
        config = demo_config(model, simulate.write_scenario("improves", workdir / model / "run"), workdir)
        config = config.model_copy(update={"require_approval": True})
        result = run_gate(config)
        assert result["decision"] == "needs_review"
        configs[model] = config
    return workdir, configs


def test_needs_review_keeps_the_champion(waiting) -> None:
    _, configs = waiting
    config = configs["review-approve"]
    assert aliases(config) == {"champion": "1", "challenger": "2"}
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert tags["gate.decision"] == "needs_review"


def test_approve_promotes_and_records_who_and_why(waiting, capsys) -> None:
    workdir, configs = waiting
    config = configs["review-approve"]
    code = main(
        [
            "approve",
            "--model",
            config.model_name,
            "--version",
            "2",
            "--comment",
            "looks right",
            "--by",
            "ana",
            "--workdir",
            str(workdir),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert aliases(config) == {"champion": "2", "previous-champion": "1"}
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert (tags["gate.review"], tags["gate.reviewer"], tags["gate.review_comment"]) == (
        "approved",
        "ana",
        "looks right",
    )
    assert tags["gate.decision"] == "promoted"
    # a settled candidate cannot be settled twice
    assert main(["reject", "--model", config.model_name, "--version", "2", "--workdir", str(workdir)]) == 1
    assert "is not waiting for review" in capsys.readouterr().err


def test_reject_leaves_the_champion_and_keeps_the_candidate(waiting, capsys) -> None:
    workdir, configs = waiting
    config = configs["review-reject"]
    code = main(
        [
            "reject",
            "--model",
            config.model_name,
            "--version",
            "2",
            "--comment",
            "segment too thin",
            "--workdir",
            str(workdir),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert aliases(config) == {"champion": "1", "challenger": "2"}
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert (tags["gate.review"], tags["gate.decision"]) == ("rejected", "rejected")


def test_unknown_version_is_a_clear_error(waiting, capsys) -> None:
    workdir, _ = waiting
    assert main(["approve", "--model", "review-reject", "--version", "99", "--workdir", str(workdir)]) == 1
    assert "has no version '99'" in capsys.readouterr().err
    assert Path(workdir / "mlflow.db").exists()
