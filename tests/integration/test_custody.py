"""Issue 14: nothing promoted by accident. Forged or replayed reviews, hand-moved aliases, a promotion
killed half way and two promotions at once, against a real MLflow registry (sqlite) and real Prefect.

The tests share one model and run in file order, as its history unfolds: version 1 is the bootstrap
champion, versions 2 and 3 wait for review (judged against version 1).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from cli import main
from gatekeeper.registry.moves import LOG_TAG
from gatekeeper.registry.records import DECISION_SHA_TAG
from tests.integration.helpers import (
    aliases,
    finish_all,
    mlflow_client,
    needing_approval,
    run_gate,
    spawn,
    wait_until,
)

MODEL = "custody"


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory):
    """Version 1 champion; versions 2 and 3 `needs_review`; only ana and ben may review."""
    workdir = tmp_path_factory.mktemp("custody")
    config = needing_approval(workdir, MODEL, reviewers=["ana", "ben"])
    assert run_gate(config)["decision"] == "needs_review"
    assert run_gate(config)["decision"] == "needs_review"
    assert aliases(config) == {"champion": "1", "challenger": "3"}
    return workdir, config, {}


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # rich wraps at 80 columns otherwise


def cli(workdir: Path, *argv: str) -> list[str]:
    return [*argv, "--workdir", str(workdir)]


def approve(workdir: Path, version: str, who: str = "ana") -> list[str]:
    return cli(workdir, "approve", "--model", MODEL, "--version", version, "--who", who)


def move_log(config) -> dict:
    text = mlflow_client(config).get_registered_model(MODEL).tags.get(LOG_TAG)
    return json.loads(text) if text else {}


def test_forged_or_replayed_approvals_are_refused(story, capsys) -> None:
    workdir, config, _ = story
    client = mlflow_client(config)

    def refused(argv: list[str], message: str) -> None:
        capsys.readouterr()
        assert main(argv) == 1
        assert message in capsys.readouterr().err
        assert aliases(config) == {"champion": "1", "challenger": "3"}

    # an old version whose tag is set to needs_review by hand: its record says bootstrap
    client.set_model_version_tag(MODEL, "1", "gate.decision", "needs_review")
    refused(approve(workdir, "1"), "the gate's recorded decision (decision.json of run")
    # the evidence hash tag changed
    good = client.get_model_version(MODEL, "2").tags[DECISION_SHA_TAG]
    client.set_model_version_tag(MODEL, "2", DECISION_SHA_TAG, "0" * 64)
    refused(approve(workdir, "2"), "the record or the tag was changed after the gate wrote it")
    client.set_model_version_tag(MODEL, "2", DECISION_SHA_TAG, good)
    # decision.json rewritten (judged against another champion)
    run_id = client.get_model_version(MODEL, "2").tags["gate.mlflow_run_id"]
    original = Path(client.download_artifacts(run_id, "decision.json", str(workdir))).read_text()
    client.log_text(
        run_id, original.replace('"champion_version": "1"', '"champion_version": "7"'), "decision.json"
    )
    refused(approve(workdir, "2"), "hashes to")
    client.log_text(run_id, original, "decision.json")
    # the tags point at another version's record, hash and all
    other = client.get_model_version(MODEL, "3").tags
    client.set_model_version_tag(MODEL, "2", "gate.mlflow_run_id", other["gate.mlflow_run_id"])
    client.set_model_version_tag(MODEL, "2", DECISION_SHA_TAG, other[DECISION_SHA_TAG])
    refused(approve(workdir, "2"), "is about version 3 of custody, not version 2")
    client.set_model_version_tag(MODEL, "2", "gate.mlflow_run_id", run_id)
    client.set_model_version_tag(MODEL, "2", DECISION_SHA_TAG, good)
    # someone not on review.reviewers
    refused(approve(workdir, "2", who="mallory"), "'mallory' may not review custody")
    # nobody named
    with pytest.raises(SystemExit):
        main(cli(workdir, "approve", "--model", MODEL, "--version", "2"))
    assert "the following arguments are required: --who" in capsys.readouterr().err
    assert "gate.review" not in client.get_model_version(MODEL, "2").tags


def test_an_approval_killed_before_its_review_is_written_is_undone(story, capsys) -> None:
    workdir, config, _ = story
    process = spawn(approve(workdir, "2"), pause="after-intent:120")
    try:
        wait_until(lambda: move_log(config).get("state") == "moving", "the approval wrote its intent")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
    assert main(cli(workdir, "status", "--model", MODEL)) == 0
    assert "an alias move did not finish: approve of version 2" in capsys.readouterr().out
    assert main(cli(workdir, "verify", "--model", MODEL)) == 1
    assert main(approve(workdir, "3")) == 1  # nothing moves until the unfinished move is settled
    assert "run `gatekeeper recover --model custody` first" in capsys.readouterr().err

    assert main(cli(workdir, "recover", "--model", MODEL)) == 0
    said = capsys.readouterr().out
    assert "undid the unfinished approve of version 2" in said, said
    assert "the record of version 2 does not vouch for it" in said
    assert aliases(config) == {"champion": "1", "challenger": "3"}
    assert move_log(config)["state"] == "undone"
    assert main(cli(workdir, "recover", "--model", MODEL)) == 0
    assert "no unfinished alias move" in capsys.readouterr().out


def test_two_approvals_at_once_only_one_wins(story) -> None:
    """Both judged against champion 1; each pauses 3 s after reading the champion (a slow registry)."""
    workdir, config, shared = story
    runs = {v: spawn(approve(workdir, v), pause="after-read:3") for v in ("2", "3")}
    finished = finish_all(list(runs.values()), 180)
    done = {v: (code, (out, err)) for v, (code, out, err) in zip(runs, finished, strict=True)}
    winners = [v for v, (code, _) in done.items() if code == 0]
    assert len(winners) == 1, done
    winner = winners[0]
    loser = "3" if winner == "2" else "2"
    assert (
        f"was judged against champion version 1, but the champion is now version {winner}"
        in (done[loser][1][1])
    )
    assert aliases(config)["champion"] == winner
    assert aliases(config)["previous-champion"] == "1"
    shared.update(winner=winner, loser=loser)


def test_a_decided_review_is_final_whatever_its_tags_say(story, capsys) -> None:
    workdir, config, shared = story
    client = mlflow_client(config)
    winner = shared["winner"]
    for key in ("gate.review", "gate.reviewer", "gate.review_comment", "gate.reviewed_at"):
        client.delete_model_version_tag(MODEL, winner, key)
    client.set_model_version_tag(MODEL, winner, "gate.decision", "needs_review")
    assert main(cli(workdir, "reject", "--model", MODEL, "--version", winner, "--who", "ben")) == 1
    assert "was already reviewed (review.json in run" in capsys.readouterr().err
    assert aliases(config)["champion"] == winner
    assert main(cli(workdir, "verify", "--model", MODEL)) == 0
    assert f"champion {winner}: approved by ana" in capsys.readouterr().out


def test_a_champion_moved_by_hand_is_named_by_verify_status_and_the_next_run(story, capsys) -> None:
    workdir, config, shared = story
    client = mlflow_client(config)
    winner, loser = shared["winner"], shared["loser"]
    client.set_registered_model_alias(MODEL, "champion", loser)

    assert main(cli(workdir, "verify", "--model", MODEL)) == 1
    out = capsys.readouterr().out
    assert f"champion of custody is version {loser}, which the gate never promoted" in out
    assert f"left version {winner}: the alias was moved outside the gate" in out
    assert main(cli(workdir, "status", "--model", MODEL)) == 0
    assert f"WARNING champion of custody is version {loser}" in capsys.readouterr().out

    result = run_gate(config)  # judged against the tampered champion: said, its record unused, not adopted
    custody = [w for w in result["warnings"] if w["check"] == "champion_custody"]
    assert custody, result["warnings"]
    assert "its record is not used as the reference" in custody[0]["message"]
    assert result["champion_version"] == loser
    assert not result["champion_adopted"]
    assert "gate.adopted" not in client.get_model_version(MODEL, loser).tags
    assert result["decision"] != "promoted"

    client.set_registered_model_alias(MODEL, "champion", winner)
    assert main(cli(workdir, "verify", "--model", MODEL)) == 0


def test_a_rollback_killed_between_alias_moves_is_completed(story, capsys) -> None:
    workdir, config, shared = story
    winner = shared["winner"]
    argv = cli(workdir, "rollback", "--model", MODEL, "--reason", "beta complaints", "--who", "ana")
    process = spawn(argv, pause="between-aliases:120")
    try:
        wait_until(
            lambda: move_log(config).get("state") == "moving" and "previous-champion" not in aliases(config),
            "the rollback moved its first alias",
        )
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
    assert aliases(config)["champion"] == winner  # half done: previous-champion gone, champion not moved
    assert main(cli(workdir, "status", "--model", MODEL)) == 0
    assert "WARNING an alias move did not finish: rollback of version 1" in capsys.readouterr().out

    assert main(cli(workdir, "recover", "--model", MODEL)) == 0
    assert "completed the unfinished rollback of version 1" in capsys.readouterr().out
    now = aliases(config)
    assert (now["champion"], now["rolled-back"], now.get("previous-champion")) == ("1", winner, None)
    assert main(cli(workdir, "verify", "--model", MODEL)) == 0
    tags = mlflow_client(config).get_model_version(MODEL, winner).tags
    assert (tags["gate.decision"], tags["gate.rolled_back_by"]) == ("rolled_back", "ana")


def test_the_next_gate_run_completes_an_approval_killed_between_alias_moves(story) -> None:
    """The approval's review.json is written, previous-champion moved, champion not yet: killed."""
    workdir, config, _ = story
    assert run_gate(config)["decision"] == "needs_review"  # version 5, judged against champion 1
    process = spawn(approve(workdir, "5"), pause="between-aliases:120")
    try:
        wait_until(
            lambda: (
                move_log(config).get("state") == "moving" and aliases(config).get("previous-champion") == "1"
            ),
            "the approval moved previous-champion",
        )
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
    assert aliases(config)["champion"] == "1"

    result = run_gate(config)
    said = [w["message"] for w in result["warnings"] if w["check"] == "unfinished_move"]
    assert said, result["warnings"]
    assert "completed the unfinished approve of version 5" in said[0]
    assert result["champion_version"] == "5"  # judged against the champion the approval left
    assert (aliases(config)["champion"], aliases(config)["previous-champion"]) == ("5", "1")
    assert move_log(config)["state"] in ("completed", "done")
