"""The rules behind reviews, `verify` and journaled moves, on records built in memory (no MLflow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.errors import RegistryConflict
from gatekeeper.registry.moves import describe, lock_path, pause, plan_promotion
from gatekeeper.registry.records import Record, check_reviewable


def record(decision: str = "needs_review", champion: str | None = "1", **kw) -> Record:
    data = {"model_name": "m", "candidate_version": "2", "decision": decision, "champion_version": champion}
    return Record("2", "run-a", kw.pop("data", data), **kw)


@pytest.mark.parametrize(
    ("rec", "standing"),
    [
        (record("promoted"), "promoted by the gate (run run-a)"),
        (record("bootstrap", None), "bootstrap by the gate (run run-a)"),
        (record(review={"outcome": "approved", "reviewer": "ana"}), "approved by ana (run run-a)"),
        (record(review={"outcome": "approved", "reviewer": " "}), None),
        (record(review={"outcome": "rejected", "reviewer": "ana"}), None),
        (record("rejected"), None),
        (record("promoted", problem="hash mismatch"), None),
        (Record("2", adopted_run_id="run-b"), "adopted by the gate (run run-b)"),
        (Record("2"), None),
    ],
    ids=[
        "promoted",
        "bootstrap",
        "approved",
        "approved-by-nobody",
        "review-rejected",
        "rejected",
        "tampered",
        "adopted",
        "no-record",
    ],
)
def test_which_records_may_stand_behind_the_champion(rec: Record, standing: str | None) -> None:
    assert rec.standing() == standing


@pytest.mark.parametrize(
    ("rec", "champion", "message"),
    [
        (record(problem="decision.json hashes to x"), "1", "not reviewing: decision.json hashes to x"),
        (Record("2"), "1", "has no gate decision record"),
        (
            record(review={"outcome": "rejected", "reviewer": "ana"}),
            "1",
            "already reviewed .*a review is final",
        ),
        (record("bootstrap"), "1", "the gate's recorded decision .* is 'bootstrap'"),
        (record(), "3", "judged against champion version 1, but the champion is now version 3"),
    ],
    ids=["tampered", "no-record", "decided", "not-needs-review", "stale"],
)
def test_a_review_is_refused_unless_the_record_waits_for_it(rec: Record, champion: str, message: str) -> None:
    with pytest.raises(RegistryConflict, match=message):
        check_reviewable(rec, "m", champion)


def test_a_review_of_the_recorded_candidate_against_the_current_champion_passes() -> None:
    check_reviewable(record(), "m", "1")


def test_a_promotion_keeps_the_old_champion_and_drops_the_challenger() -> None:
    before = {"champion": "1", "challenger": "2", "rolled-back": "0"}
    assert plan_promotion(before, "2") == {
        "champion": "2",
        "previous-champion": "1",
        "challenger": None,
        "rolled-back": "0",
    }
    assert plan_promotion({}, "1") == {"champion": "1"}


def test_a_move_is_described_by_what_changes() -> None:
    log = {
        "kind": "promote",
        "version": "2",
        "by": "gate",
        "at": "t",
        "before": {"champion": "1", "previous-champion": None},
        "after": {"champion": "2", "previous-champion": "1"},
    }
    assert describe(log) == "promote of version 2 (previous-champion - -> 1, champion 1 -> 2) by gate at t"


def test_the_promotion_lock_lives_beside_a_local_registry(tmp_path: Path) -> None:
    db = tmp_path / "work" / "mlflow.db"
    assert lock_path(f"sqlite:///{db}", "fraud/x") == tmp_path / "work" / "locks" / "promote-fraud_x.lock"
    remote = lock_path("http://mlflow:5000", "fraud", "gate")
    assert remote.name == "gate-fraud.lock"
    assert remote.parent.name.startswith("gatekeeper-locks-")


def test_the_pause_hook_sleeps_only_at_the_named_point(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("GATEKEEPER_TEST_PAUSE", "between-aliases:0.2")
    started = time.monotonic()
    pause("after-intent")
    assert time.monotonic() - started < 0.1
    pause("between-aliases")
    assert time.monotonic() - started >= 0.2


def test_the_pause_hook_raises_its_flag_only_at_the_named_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = tmp_path / "at:point.flag"  # the flag's path may hold a colon
    monkeypatch.setenv("GATEKEEPER_TEST_PAUSE", f"before-apply:0:{flag}")
    pause("after-read")
    assert not flag.exists()
    pause("before-apply")
    assert flag.exists()


def test_signatures_check_only_with_the_gate_s_key(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from gatekeeper.errors import ConfigError
    from gatekeeper.registry import signing

    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    monkeypatch.delenv(signing.KEY_FILE_ENV, raising=False)
    said = signing.statement("decision", "churn", "3", "ab" * 32)
    assert signing.sign(said) is None
    assert signing.check(said, "anything") == "no key"
    monkeypatch.setenv(signing.KEY_ENV, "k" * 32)
    signature = signing.sign(said)
    assert signature is not None
    assert signature.startswith("hmac-sha256:")
    assert signing.check(said, signature) == "signed"
    assert signing.check(said.replace("/3:", "/4:"), signature) == "forged"  # another version's record
    assert signing.check(said, None) == "unsigned"
    assert signing.check(said, signing.sign(said, b"another key of 32 characters....")) == "forged"
    monkeypatch.setenv(signing.KEY_ENV, "short")
    with pytest.raises(ConfigError, match="16 or more"):
        signing.signing_key()
    monkeypatch.delenv(signing.KEY_ENV)
    (tmp_path / "key").write_text("k" * 32 + "\n")
    monkeypatch.setenv(signing.KEY_FILE_ENV, str(tmp_path / "key"))
    assert signing.check(said, signature) == "signed"
    # unsigned records: accepted unless their version was created after signing began
    assert signing.unsigned_problem("the record", 1_000) is None
    monkeypatch.setenv(signing.SINCE_ENV, "2026-12-01T00:00:00+00:00")
    assert signing.unsigned_problem("the record", 1_700_000_000_000) is None  # 2023
    assert "after signing began" in str(signing.unsigned_problem("the record", 1_800_000_000_000))
    monkeypatch.setenv(signing.SINCE_ENV, "yesterday")
    with pytest.raises(ConfigError, match="GATEKEEPER_SIGNING_SINCE"):
        signing.since()
