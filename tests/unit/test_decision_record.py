"""The typed decision: one serialiser, one versioned reader, and the check vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatekeeper.config import load_config
from gatekeeper.decide.decision import SCHEMA_VERSION, decision_to_dict, decision_to_json, read_decision
from gatekeeper.errors import ConfigError, DecisionFormatError
from gatekeeper.vocabulary import Check, effect_of

V1 = Path(__file__).resolve().parents[1] / "data" / "decision_v1.json"


def test_a_version_1_decision_written_by_the_old_code_reads_with_one_effect_per_check() -> None:
    decision = read_decision(V1.read_text(), source=str(V1))
    assert decision.schema_version == SCHEMA_VERSION
    assert decision.decision == "blocked"
    assert [(c.check, c.effect) for c in decision.checks] == [
        ("labels.balance", "warn"),
        ("overall_improvement", "none"),
        ("key_segment_insufficient_data", "block"),
    ]
    assert decision.overall is not None
    assert decision.overall.segment == "overall"
    assert decision.reasons[0].check == "key_segment_insufficient_data"


def test_a_version_1_decision_still_serves_as_the_champions_reference() -> None:
    reference = read_decision(V1.read_text()).champion_reference()
    assert reference is not None
    assert (reference.metric, reference.overall) == ("roc_auc", 0.82)
    assert reference.segments == {"browser=chrome": 0.83}  # the thin key segment is not a reference
    assert reference.rows == {"overall": 20000, "browser=chrome-beta": 150, "browser=chrome": 15000}


def test_a_decision_round_trips_through_its_json() -> None:
    decision = read_decision(V1.read_text())
    again = read_decision(decision_to_json(decision))
    assert again == decision
    assert decision_to_dict(again)["schema_version"] == SCHEMA_VERSION


def test_a_decision_from_a_newer_gatekeeper_is_refused_clearly() -> None:
    newer = {**json.loads(V1.read_text()), "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(
        DecisionFormatError, match=rf"schema_version {SCHEMA_VERSION + 1}.*upgrade gatekeeper"
    ):
        read_decision(newer, source="run-42/decision.json")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[1, 2]", "must hold a JSON object; got list"),
        ("{oops", "not valid JSON"),
        ('{"decision": 3}', "not a readable gate decision"),
    ],
    ids=["list", "broken-json", "missing-fields"],
)
def test_unreadable_decisions_raise_decision_format_error(text: str, match: str) -> None:
    with pytest.raises(DecisionFormatError, match=match):
        read_decision(text)


def test_a_check_has_one_effect_and_derives_the_rest() -> None:
    assert Check("x", "none", "ok").holds
    assert not Check("x", "warn", "w").stops
    assert all(Check("x", e, "m").stops for e in ("block", "reject", "review", "skip"))
    assert (effect_of("pass"), effect_of("review"), effect_of("block")) == ("warn", "review", "block")
    with pytest.raises(ValueError, match=r"Check.effect must be one of .*got 'fail'"):
        Check("x", "fail", "m")  # type: ignore[arg-type]


@pytest.mark.parametrize("body", ["- a\n- b\n", "just text\n", "42\n"], ids=["list", "scalar", "number"])
def test_a_config_that_is_not_a_mapping_names_the_file(tmp_path: Path, body: str) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=r"gate\.yaml' must hold a mapping of keys"):
        load_config(path)


def test_a_version_2_decision_reads_its_p_values_under_their_honest_names() -> None:
    """Schema 2 called two corrected p-values `p_regressed` / `p_improved` (an improved segment showed
    `p_improved: 0.0`); schema 3 names them `p_value_*` and reads the old names."""
    from dataclasses import replace

    decision = read_decision(V1.read_text())
    assert decision.overall is not None
    row = replace(decision.overall, p_value_improved=0.001, p_value_regressed=0.9)
    written = decision_to_dict(replace(decision, overall=row, segments=[replace(row, segment="a=b")]))
    assert {"p_value_improved", "p_value_regressed"} <= set(written["overall"])
    old = json.loads(json.dumps(written))
    old["schema_version"] = 2
    for part in (old["overall"], *old["segments"]):
        part["p_improved"], part["p_regressed"] = part.pop("p_value_improved"), part.pop("p_value_regressed")
    again = read_decision(old)
    assert again.overall is not None
    assert (again.overall.p_value_improved, again.overall.p_value_regressed) == (0.001, 0.9)
    assert again.segments[0].p_value_improved == 0.001
    assert again.schema_version == SCHEMA_VERSION == 3
