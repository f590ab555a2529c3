"""Issue 27: the gate's commands act on nothing they cannot check. Registry state anyone with write
access can forge (the journal tag `gate.promotion`, `previous-champion`, version tags) never moves
`champion` onto a version the gate did not vouch for; a gate killed between recording a promotion
and moving the alias is found and finished; records signed with a key the registry does not hold.

One model, its history in file order: version 1 the bootstrap champion, version 2 promoted (by a
gate killed half way, then recovered), version 3 rejected. Each test puts back what it forged.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from cli import main
from gatekeeper.demo import simulate
from gatekeeper.demo.scenarios import demo_config, write_config
from gatekeeper.registry.moves import LOG_TAG
from gatekeeper.registry.signing import KEY_ENV
from tests.integration.bootstraps import bootstrapped
from tests.integration.helpers import aliases, finish_all, mlflow_client, run_gate, spawn, wait_until

MODEL = "forged-custody"
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Version 1, the bootstrap champion; the first test adds versions 2 (promoted) and 3 (rejected)."""
    workdir = tmp_path_factory.mktemp("forged")
    _, config = bootstrapped(MODEL, workdir)
    return {"workdir": workdir, "config": config}


def scenario_config(history: dict[str, Any], scenario: str, folder: Path):  # type: ignore[no-untyped-def]
    """The demo scenario's config, retraining whatever triage says (a candidate to judge every run)."""
    config = demo_config(MODEL, simulate.write_scenario(scenario, folder), history["workdir"])
    return config.model_copy(update={"triage": config.triage.model_copy(update={"force_retrain": True})})


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")


def gatekeeper(history: dict[str, Any], *argv: str) -> list[str]:
    return [*argv, "--model", MODEL, "--workdir", str(history["workdir"])]


def journal(history: dict[str, Any]) -> str | None:
    return mlflow_client(history["config"]).get_registered_model(MODEL).tags.get(LOG_TAG)


def forge(history: dict[str, Any], kind: str, version: str, to: str, **extra: Any) -> None:
    """A `gate.promotion` entry in state `moving`, as a hostile user writes it (one tag)."""
    entry = {
        "kind": kind,
        "version": version,
        "state": "moving",
        "before": {"previous-champion": "1", "rolled-back": None, "champion": "2", "challenger": "3"},
        "after": {"previous-champion": "2", "rolled-back": None, "champion": to, "challenger": "3"},
        "by": "mallory",
        "at": "2026-12-01T00:00:00+00:00",
        "run_id": "",
        "tags": {},
        **extra,
    }
    mlflow_client(history["config"]).set_registered_model_tag(MODEL, LOG_TAG, json.dumps(entry))


def test_a_gate_killed_between_recording_a_promotion_and_moving_is_found_and_finished(
    history, tmp_path: Path, capsys
) -> None:
    """SIGKILL after the decision is recorded, while the gate is about to move `champion`: the
    version says `promoting` (it said `promoted`, and was never champion), verify names it, recover
    carries the promotion out (the champion is still the one it was judged against)."""
    config = scenario_config(history, "improves", tmp_path / "improves")
    path = write_config(config, tmp_path / "gate.yaml")
    flag = tmp_path / "reached"
    process = spawn(["run", "--config", str(path)], pause=f"after-read:120:{flag}")
    wait_until(flag.exists, "the gate reached its move", seconds=300)
    process.send_signal(signal.SIGKILL)
    finish_all([process])
    client = mlflow_client(config)
    assert client.get_model_version(MODEL, "2").tags["gate.decision"] == "promoting"
    assert aliases(config)["champion"] == "1"
    capsys.readouterr()
    assert main(gatekeeper(history, "verify")) == 1
    assert "version 2 of forged-custody is tagged gate.decision=promoting" in capsys.readouterr().out
    assert main(gatekeeper(history, "recover")) == 0
    assert "carried out the promotion of version 2" in capsys.readouterr().out
    assert aliases(config) == {"champion": "2", "previous-champion": "1"}
    assert client.get_model_version(MODEL, "2").tags["gate.decision"] == "promoted"
    assert main(gatekeeper(history, "verify")) == 0
    rejected = run_gate(scenario_config(history, "hurts-key-segment", tmp_path / "hurts"))
    assert rejected["decision"] == "rejected", rejected["reasons"]
    assert aliases(config) == {"champion": "2", "previous-champion": "1", "challenger": "3"}


def test_a_forged_journal_never_moves_the_champion(history, capsys) -> None:
    config, before = history["config"], journal(history)
    record_of_1 = mlflow_client(config).get_model_version(MODEL, "1").tags
    run_of_1 = record_of_1["gate.mlflow_run_id"]
    for kind, version, to, extra, said in [
        ("rollback", "3", "3", {}, "the record of version 3 does not vouch for it"),  # onto the rejected
        ("promote", "1", "1", {}, "the journal names gate run (none)"),  # a silent rollback
        ("promote", "1", "1", {"run_id": run_of_1}, "judged against champion version None"),  # its real run
        ("approve", "3", "3", {}, "the record of version 3 does not vouch for it"),
    ]:
        forge(history, kind, version, to, **extra)
        capsys.readouterr()
        assert main(gatekeeper(history, "recover")) == 0
        out = capsys.readouterr().out
        assert said in out, out
        assert "undid the unfinished" in out  # back to where the entry started: where it is now
        assert aliases(config) == {"champion": "2", "previous-champion": "1", "challenger": "3"}, kind
        mlflow_client(config).set_registered_model_tag(MODEL, LOG_TAG, str(before))
    # an entry whose every end is unvouched (from the rejected version to itself): nothing moves,
    # the entry stays for a person to look at
    forge(history, "rollback", "3", "3", before={"champion": "3", "previous-champion": "1"})
    capsys.readouterr()
    assert main(gatekeeper(history, "recover")) == 0
    assert "no alias was moved" in capsys.readouterr().out
    assert aliases(config)["champion"] == "2"
    assert main(gatekeeper(history, "verify")) == 1
    mlflow_client(config).set_registered_model_tag(MODEL, LOG_TAG, str(before))
    assert main(gatekeeper(history, "verify")) == 0


def test_rollback_refuses_a_previous_champion_the_gate_never_vouched_for(history, capsys) -> None:
    config = history["config"]
    client = mlflow_client(config)
    client.set_registered_model_alias(MODEL, "previous-champion", "3")  # the rejected version, by hand
    capsys.readouterr()
    assert main(gatekeeper(history, "rollback", "--reason", "try", "--who", "ana")) == 1
    err = capsys.readouterr().err
    assert "not rolling back: previous-champion of forged-custody is version 3" in err, err
    assert "its recorded decision is 'rejected'" in err
    assert aliases(config)["champion"] == "2"
    client.set_registered_model_alias(MODEL, "previous-champion", "1")
    assert main(gatekeeper(history, "verify")) == 0


def test_a_deleted_journal_and_a_promotion_tagged_by_hand_are_named(history, capsys) -> None:
    config, before = history["config"], journal(history)
    client = mlflow_client(config)
    client.delete_registered_model_tag(MODEL, LOG_TAG)
    capsys.readouterr()
    assert main(gatekeeper(history, "verify")) == 1
    assert (
        "has no gate.promotion journal, though the gate moved champion onto version(s) 1, 2"
        in capsys.readouterr().out
    )
    client.set_registered_model_tag(MODEL, LOG_TAG, str(before))
    # a rejected version tagged `promoted` by hand: no journaled move of the gate made it champion
    client.set_model_version_tag(MODEL, "3", "gate.decision", "promoted")
    assert main(gatekeeper(history, "verify")) == 1
    assert "version 3 of forged-custody is tagged gate.decision=promoted, but no journaled move" in (
        capsys.readouterr().out
    )
    client.set_model_version_tag(MODEL, "3", "gate.decision", "rejected")
    assert main(gatekeeper(history, "verify")) == 0


def test_with_a_signing_key_records_are_signed_and_a_forged_signature_is_refused(
    history, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "a-key-the-registry-never-sees-0123456789")
    config = history["config"]
    client = mlflow_client(config)
    # records from before the key: accepted, with a note
    capsys.readouterr()
    assert main(gatekeeper(history, "verify")) == 0
    assert "is not signed" in capsys.readouterr().out
    # a run with the key signs its decision record
    decided = run_gate(scenario_config(history, "hurts-key-segment", tmp_path / "signed"))
    version = decided["candidate_version"]
    assert client.get_model_version(MODEL, version).tags["gate.decision_signature"].startswith("hmac-sha256:")
    assert main(gatekeeper(history, "verify")) == 0
    # someone who can write tags but holds no key: a journal entry they sign is refused outright
    champion, before = aliases(config)["champion"], journal(history)
    forge(history, "rollback", "1", "1", signature="hmac-sha256:" + "0" * 64)
    capsys.readouterr()
    assert main(gatekeeper(history, "recover")) == 0
    assert "not this gate's key's" in capsys.readouterr().out
    assert aliases(config)["champion"] == champion
    client.set_registered_model_tag(MODEL, LOG_TAG, str(before))
    # and the champion's record with a signature someone made up is not the gate's
    client.set_model_version_tag(MODEL, "2", "gate.decision_signature", "hmac-sha256:" + "1" * 64)
    capsys.readouterr()
    assert main(gatekeeper(history, "verify")) == 1
    assert "forged or altered" in capsys.readouterr().out
    client.delete_model_version_tag(MODEL, "2", "gate.decision_signature")
    assert main(gatekeeper(history, "verify")) == 0
