"""The gate's own promotion under faults (issue 14's audit): a `gatekeeper run` killed by PID between
its alias moves, and two runs of one model at once with a slow registry. Real processes, a real
sqlite registry, each run with its own private Prefect API as a user's command line has."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from cli import main
from gatekeeper.config import load_config
from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import demo_config, write_config
from gatekeeper.registry.moves import LOG_TAG
from tests.integration.bootstraps import bootstrapped
from tests.integration.helpers import aliases, finish_all, mlflow_client, run_gate, spawn, wait_until

MODEL = "gate-under-fault"  # one bootstrap for the three tests, each in its own registry


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # rich wraps at 80 columns otherwise


def improving(workdir: Path, model: str) -> Path:
    """A bootstrapped champion (version 1, the session's bootstrap of `model` copied into the fresh
    `workdir`) and the config of a run whose candidate is promoted."""
    bootstrapped(model, workdir)
    config = demo_config(model, simulate.write_scenario("improves", workdir / "run"), workdir, "improves")
    return write_config(config, workdir / "gate.yaml")


def move_log(config, model: str) -> dict:
    text = mlflow_client(config).get_registered_model(model).tags.get(LOG_TAG)
    return json.loads(text) if text else {}


def test_a_gate_killed_between_its_alias_moves_is_reported_and_completed(tmp_path: Path, capsys) -> None:
    model = MODEL
    path = improving(tmp_path, model)
    config = load_config(path)
    gate = spawn(["run", "--config", str(path)], pause="between-aliases:120")
    try:
        wait_until(
            lambda: (
                move_log(config, model).get("state") == "moving"
                and aliases(config).get("previous-champion") == "1"
            ),
            "the gate moved its first alias",
            seconds=300,
        )
    finally:
        os.kill(gate.pid, signal.SIGKILL)
        gate.communicate()
    assert aliases(config)["champion"] == "1"  # half done: previous-champion moved, champion not
    workdir = ["--workdir", str(tmp_path)]
    assert main(["status", "--model", model, *workdir]) == 0
    assert "an alias move did not finish" in capsys.readouterr().out
    assert main(["verify", "--model", model, *workdir]) == 1
    capsys.readouterr()
    assert main(["recover", "--model", model, *workdir]) == 0
    said = capsys.readouterr().out
    assert "completed the unfinished" in said, said  # decision.json and its hash came before the move
    assert (aliases(config)["champion"], aliases(config)["previous-champion"]) == ("2", "1")
    assert main(["verify", "--model", model, *workdir]) == 0


def test_two_gate_runs_of_one_model_at_once_promote_once(tmp_path: Path) -> None:
    """Both pause 3 s after reading the champion (a slow registry); the model's lock serialises them,
    so the second judges its candidate against the champion the first promoted."""
    model = MODEL
    path = improving(tmp_path, model)
    runs = [spawn(["run", "--config", str(path)], pause="after-read:3") for _ in range(2)]
    done = finish_all(runs)
    assert all("Traceback" not in err for _, _, err in done), done
    config = load_config(path)
    client = mlflow_client(config)
    decided = {
        str(v.version): v.tags.get("gate.decision")
        for v in client.search_model_versions(f"name='{model}'")
        if str(v.version) != "1"
    }
    promoted = [v for v, d in decided.items() if d == "promoted"]
    assert len(promoted) == 1, decided
    assert aliases(config)["champion"] == promoted[0]
    assert aliases(config)["previous-champion"] == "1"


def test_a_champion_moved_by_hand_while_the_gate_decides_is_not_overwritten(tmp_path: Path) -> None:
    """Someone moves `champion` (without the gate's lock) after the gate scored its candidate against
    version 1: the gate re-reads the champion inside its lock, refuses to promote on stale evidence,
    and the candidate says why; the hand-set champion stays."""
    model = MODEL
    path = improving(tmp_path, model)
    config = load_config(path)
    flag = tmp_path / "paused-before-apply"
    gate = spawn(["run", "--config", str(path)], pause=f"before-apply:5:{flag}")
    try:
        wait_until(lambda: flag.exists() or gate.poll() is not None, "the gate reached its decision", 300)
        assert flag.exists(), gate.communicate()[1][-3000:]
        client = mlflow_client(config)
        source = client.get_model_version(model, "1")
        by_hand = client.create_model_version(model, source.source, run_id=source.run_id).version
        client.set_registered_model_alias(model, "champion", by_hand)
    finally:
        code, _, err = finish_all([gate])[0]
    assert code == 1, err[-3000:]
    assert "Traceback" not in err
    assert aliases(config)["champion"] == str(by_hand)
    assert "is kept at" not in err  # the registry recorded the decision and the refusal: nothing to keep
    assert not list((tmp_path / "decisions" / "unrecorded").glob("*.json"))
    tags = client.get_model_version(model, "2").tags
    assert tags["gate.decision"] == "error"
    assert f"moved from version 1 to {by_hand} since the evidence was gathered" in tags["gate.reasons"], tags
    # the next gate run keeps that reason: the decision was recorded in the registry, only refused
    run_gate(config)
    tags = client.get_model_version(model, "2").tags
    assert f"moved from version 1 to {by_hand} since the evidence was gathered" in tags["gate.reasons"], tags
