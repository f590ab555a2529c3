"""`gatekeeper rollback` and `gatekeeper status` against a real registry and Prefect API."""

from __future__ import annotations

import json
from pathlib import Path

from cli import main
from gatekeeper.report.markdown import artifact_key
from tests.integration.helpers import aliases, bootstrap_and_run, mlflow_client, read_artifacts


def test_rollback_is_one_recorded_alias_move_and_status_shows_it(tmp_path: Path, capsys) -> None:
    _, promoted, config = bootstrap_and_run("improves", tmp_path)
    assert promoted["decision"] == "promoted"
    assert main(["status", "--model", config.model_name, "--workdir", str(tmp_path), "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert before["aliases"] == {"champion": "2", "previous-champion": "1"}
    assert [v["decision"] for v in before["versions"]] == ["promoted", "bootstrap"]

    assert (
        main(
            [
                "rollback",
                "--model",
                config.model_name,
                "--reason",
                "complaints from the beta team",
                "--by",
                "ana",
                "--workdir",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert aliases(config) == {"champion": "1", "rolled-back": "2"}
    tags = mlflow_client(config).get_model_version(config.model_name, "2").tags
    assert (tags["gate.rolled_back_by"], tags["gate.rollback_reason"]) == (
        "ana",
        "complaints from the beta team",
    )
    assert any("ROLLED BACK" in a.data for a in read_artifacts(artifact_key(config.model_name, "rollback")))

    # nothing left to roll back to: a clear error, and nothing moves
    capsys.readouterr()
    assert (
        main(["rollback", "--model", config.model_name, "--reason", "again", "--workdir", str(tmp_path)]) == 1
    )
    assert "no previous-champion alias" in capsys.readouterr().err
    assert aliases(config) == {"champion": "1", "rolled-back": "2"}
