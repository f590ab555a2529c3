"""Fleets without Prefect: the fleet file, its models' configs, shared reads and the control of wrong
promotions across models."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from gatekeeper.data.segments import rows_where
from gatekeeper.data.shared import read_once, rows_selected, select_rows, shared_reads
from gatekeeper.decide.decision import Decision, SegmentResult, Thresholds
from gatekeeper.decide.fleet import CHECK, control_false_discoveries, step_up_threshold
from gatekeeper.errors import ConfigError
from gatekeeper.fleet import listed_configs, load_fleet, per_value_configs, values_to_gate
from gatekeeper.report.fleet import FleetResult, ModelOutcome, fleet_rows, render_fleet_markdown

GATE = {
    "target": "y",
    "data": {"train": "data/train.csv", "new_labels": "data/new.csv", "evaluation": "data/eval.csv"},
    "expectations": {"directory": "suites", "train": "s"},
    "min_improvement": 0.01,
}


def write(path: Path, raw: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    return path


# ---------------------------------------------------------------- the fleet file


def test_listed_models_take_the_shared_keys_and_their_own_paths_mean_what_they_meant(tmp_path: Path) -> None:
    own = write(tmp_path / "teams" / "b.yaml", {"model_name": "b", "data": {"train": "b-train.csv"}})
    fleet = write(
        tmp_path / "fleet.yaml",
        {
            "fleet": {"name": "f", "models": [{"model_name": "a", "min_improvement": 0.02}, "teams/b.yaml"]},
            "gate": GATE,
        },
    )
    spec, base = load_fleet(fleet)
    a, b = listed_configs(spec, base, workdir=str(tmp_path / "w"))
    assert (a.model_name, a.min_improvement, b.min_improvement) == ("a", 0.02, 0.01)
    assert a.data.train == str(tmp_path / "data" / "train.csv")
    assert b.data.train == str(own.parent / "b-train.csv")  # relative to its own file
    assert b.data.new_labels == str(tmp_path / "data" / "new.csv")  # merged key by key from `gate:`
    assert a.expectations.directory == str(tmp_path / "suites")
    assert a.workdir == b.workdir == str(tmp_path / "w")


@pytest.mark.parametrize(
    ("fleet", "match"),
    [
        ({"name": "f"}, "give `models`"),
        (
            {
                "name": "f",
                "models": [{"model_name": "a"}],
                "per_value": {"column": "r", "model_name": "m-{value}"},
            },
            "one of",
        ),
        ({"name": "f", "per_value": {"column": "r", "model_name": "no-placeholder"}}, "per_value.model_name"),
        ({"name": "f", "models": [], "false_discovery_rate": 0}, "false_discovery_rate"),
        ({"name": "f", "models": [{"model_name": "a"}], "compute": {"engine": "spark"}}, "compute.engine"),
    ],
    ids=["nothing-to-gate", "both", "name-without-value", "zero-rate", "unknown-engine"],
)
def test_a_bad_fleet_file_is_one_config_error_naming_the_key(
    tmp_path: Path, fleet: dict[str, Any], match: str
) -> None:
    path = write(tmp_path / "fleet.yaml", {"fleet": fleet, "gate": GATE})
    with pytest.raises(ConfigError, match=match):
        load_fleet(path)


@pytest.mark.parametrize(
    ("models", "match"),
    [
        ([{"model_name": "a"}, {"model_name": "a"}], "gated twice"),
        (
            [{"model_name": "a"}, {"model_name": "b", "min_improvment": 1}],
            r"fleet.models\[1\].*min_improvment",
        ),
        ([{"model_name": "a", "compute": {"engine": "dask"}}], r"fleet.models\[0\].*fleet.compute"),
        (["missing.yaml"], "missing.yaml"),
    ],
    ids=["same-name", "typo-in-a-model", "model-on-its-own-cluster", "missing-file"],
)
def test_a_bad_model_is_named_by_its_place_in_the_fleet(
    tmp_path: Path, models: list[Any], match: str
) -> None:
    spec, base = load_fleet(
        write(tmp_path / "fleet.yaml", {"fleet": {"name": "f", "models": models}, "gate": GATE})
    )
    with pytest.raises(ConfigError, match=match):
        listed_configs(spec, base)


def test_a_candidate_is_one_model_s_not_the_fleet_s(tmp_path: Path) -> None:
    gate = {**GATE, "candidate": "models:/a/1"}
    with pytest.raises(ConfigError, match="candidate"):
        load_fleet(
            write(
                tmp_path / "fleet.yaml",
                {"fleet": {"name": "f", "models": [{"model_name": "a"}]}, "gate": gate},
            )
        )


def test_per_value_models_select_their_rows_and_name_what_was_not_gated(tmp_path: Path) -> None:
    fleet = {"name": "f", "per_value": {"column": "region", "model_name": "churn-{value}"}}
    spec, base = load_fleet(write(tmp_path / "fleet.yaml", {"fleet": fleet, "gate": GATE}))
    assert spec.fleet.per_value is not None
    values, skipped = values_to_gate(
        spec.fleet.per_value, [np.int64(3), "north", "east", "north"], ["north", 3, "west"]
    )
    assert values == [3, "north"]
    assert type(values[0]) is int
    assert set(skipped) == {"east", "west"}
    assert "no new labels" in skipped["east"]
    assert "no training" in skipped["west"]
    configs = per_value_configs(spec, base, values)
    assert [c.model_name for c in configs] == ["churn-3", "churn-north"]
    assert [c.data.where for c in configs] == [{"region": 3}, {"region": "north"}]
    odd = per_value_configs(spec, base, ["São Paulo/2"])[0]
    assert odd.model_name == "churn-S-o-Paulo-2"
    assert odd.data.where == {"region": "São Paulo/2"}


# ---------------------------------------------------------------- shared reads


@pytest.mark.parametrize("seed", range(6))
def test_a_model_s_rows_are_the_rows_its_where_selects_shared_or_not(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 400))
    frame = pd.DataFrame(
        {
            "num": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 4, n)),
            "text": rng.choice(np.array(["a", "b", None], dtype=object), n),
            "flag": rng.random(n) < 0.5,
        }
    )
    for where in [
        {"num": 2},
        {"num": "2.0"},
        {"text": "a"},
        {"text": "<missing>"},
        {"num": 1, "text": "b"},
        {"flag": True},
        {"num": 7},
    ]:
        expected = rows_where(frame, where)
        assert np.array_equal(rows_selected(frame, where, "train", "p"), expected)
        with shared_reads():
            first = rows_selected(frame, where, "train", "p")
            again = rows_selected(frame, where, "train", "p")  # from the kept groups
        assert np.array_equal(first, expected)
        assert np.array_equal(again, expected)


def test_a_where_on_a_column_a_table_lacks_is_named() -> None:
    with pytest.raises(ConfigError, match=r"`data.where`.*evaluation.*'regoin'.*did you mean 'region'"):
        select_rows(pd.DataFrame({"region": [1]}), {"regoin": 1}, "evaluation", "e.csv")


def test_a_shared_file_is_read_once_and_each_model_s_copy_is_its_own() -> None:
    reads: list[str] = []

    def read(path: str) -> pd.DataFrame:
        reads.append(path)
        return pd.DataFrame({"x": np.arange(5)})

    frames: list[pd.DataFrame] = []
    with shared_reads():
        threads = [
            threading.Thread(target=lambda: frames.append(read_once("t.csv", read, lambda p: "sha")[0]))
            for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        frames[0]["x"] = -1  # one model changes its table
        frames[1]["new"] = 1
        assert read_once("t.csv", read, lambda p: "sha")[0]["x"].tolist() == [0, 1, 2, 3, 4]
    assert reads == ["t.csv"]
    assert "new" not in frames[2].columns
    read_once("t.csv", read, lambda p: "sha")  # outside a fleet nothing is kept
    assert reads == ["t.csv", "t.csv"]


# ---------------------------------------------------------------- wrong promotions across the fleet


def decision(name: str, p: float | None, value: str = "promoted", champion: str | None = "1") -> Decision:
    overall = (
        None
        if p is None
        else SegmentResult("overall", 1000, "improved", 0.7, 0.72, 0.02, 0.01, 0.03, p_value_improved=p)
    )
    return Decision(
        name, value, champion, "2", "roc_auc", Thresholds(0.0, 0.0, None, 200, True), overall=overall
    )  # type: ignore[arg-type]


def test_step_up_matches_benjamini_hochberg_capped_at_the_single_model_s_level() -> None:
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    assert step_up_threshold(p, 0.05, cap=1.0) == (pytest.approx(0.0125), 2)  # BH: 2 rejections at q=0.05
    assert step_up_threshold(p, 0.5, cap=0.025) == (0.025, 2)
    assert step_up_threshold([0.9, 0.5], 0.05, cap=0.025) == (0.0, 0)
    assert step_up_threshold([], 0.05, cap=0.025) == (0.0, 0)


def test_a_promotion_the_fleet_cannot_keep_is_rejected_saying_so_and_nothing_else_changes() -> None:
    decisions = [
        decision("strong", 1e-6),
        decision("lucky", 0.02),
        *[decision(f"null{i}", 0.5, "rejected") for i in range(8)],
        decision("blocked", None, "blocked"),
        None,
        decision("first", None, "bootstrap", champion=None),
    ]
    out, control = control_false_discoveries(decisions, 0.05)
    assert control.tests == 10
    assert control.held == ("lucky",)
    held = out[1]
    assert held is not None
    assert held.decision == "rejected"
    assert held.reasons[0].check == CHECK
    assert "alone it would have been promoted" in held.reasons[0].text()
    assert out[0] is decisions[0]
    assert out[2:] == decisions[2:]
    alone, _ = control_false_discoveries([decisions[1]], 0.05)
    assert alone[0] is decisions[1]  # one model: its own level decides, as in a single run


def test_the_share_of_wrong_promotions_across_fleets_stays_under_the_rate() -> None:
    """45 models with nothing to gain and 5 with a real gain, 20,000 fleets: alone, each promotes at
    p < 0.025 (about 1 wrong promotion in 6); the fleet's step-up keeps the share at q * 45 / 50."""
    from scipy.stats import norm

    rng = np.random.default_rng(3)
    wrong_alone, wrong_fleet = [], []
    for _ in range(20_000):
        p = np.concatenate([rng.random(45), norm.sf(rng.normal(3.0, 1.0, 5))])
        threshold, _ = step_up_threshold(list(p), 0.05, cap=0.025)
        for promoted, store in ((p < 0.025, wrong_alone), (p <= threshold, wrong_fleet)):
            store.append(promoted[:45].sum() / max(1, promoted.sum()))
    assert np.mean(wrong_fleet) <= 0.05 * 45 / 50 + 3 * np.std(wrong_fleet) / np.sqrt(20_000)
    assert np.mean(wrong_alone) > 0.1


def test_the_summary_lists_what_needs_a_person_first() -> None:
    out, control = control_false_discoveries(
        [decision("lucky", 0.02), *[decision(f"n{i}", 0.6, "rejected") for i in range(9)]], 0.05
    )
    outcomes = [
        ModelOutcome("ok", decision("ok", 1e-9)),
        ModelOutcome("broken", error="DataLoadError: no file"),
        ModelOutcome("lucky", out[0]),
        ModelOutcome("waits", decision("waits", 0.001, "needs_review")),
    ]
    result = FleetResult("f", outcomes, control, {"east": "no new labels in this batch: nothing to gate"})
    assert [r["decision"] for r in fleet_rows(result)] == [
        "error",
        "needs_review",
        "held by the fleet",
        "promoted",
        "not gated",
    ]
    assert result.state_name() == "NeedsAPerson"
    assert "1 error" in result.summary()
    assert "Benjamini-Hochberg" in render_fleet_markdown(result)
    calm = FleetResult("f", [ModelOutcome("ok", decision("ok", 1e-9))], control)
    assert calm.state_name() == "Decided"
