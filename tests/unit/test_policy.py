from __future__ import annotations

import numpy as np
import pytest

from gatekeeper.policy import Check, Evidence, decide, segment_status
from gatekeeper.stats import MetricComparison, SegmentComparison
from tests.unit.conftest import make_config

BETA = "browser=chrome-beta"


def seg(
    name: str,
    champion: float | None,
    candidate: float | None,
    n: int = 1000,
    metric: str = "roc_auc",
    reason: str | None = None,
) -> SegmentComparison:
    delta = None if champion is None or candidate is None or reason else candidate - champion
    where = dict(part.split("=") for part in name.split(" & ")) if name != "overall" else {}
    return SegmentComparison(name, where, MetricComparison(metric, n, candidate, champion, delta, reason))


def evidence(
    overall=(0.80, 0.82), beta=(0.80, 0.80, 500), champion_version="1", metric="roc_auc", validation=()
) -> Evidence:
    key = [] if beta is None else [seg(BETA, beta[0], beta[1], beta[2], metric)]
    return Evidence(
        model_name="fraud-detector",
        primary_metric=metric,
        champion_version=champion_version,
        candidate_version="2",
        overall=seg("overall", overall[0], overall[1], 20000, metric),
        segments=[seg("browser=chrome", 0.8, 0.83, 15000, metric), *key],
        key_segments=key,
        validation=list(validation),
    )


def test_promotes_when_overall_improves_and_key_segment_holds(config) -> None:
    decision = decide(evidence(), config)
    assert decision.decision == "promoted"
    assert decision.promotes
    assert [r["check"] for r in decision.reasons] == ["overall_improvement", "key_segment_regression"]
    assert decision.overall == {"champion": 0.80, "candidate": 0.82, "delta": pytest.approx(0.02), "n": 20000}


def test_rejects_when_key_segment_regresses_and_names_it(config) -> None:
    decision = decide(evidence(beta=(0.88, 0.81, 240)), config)
    assert decision.decision == "rejected"
    assert decision.reasons == [
        {
            "check": "key_segment_regression",
            "segment": BETA,
            "message": "roc_auc fell 0.0700 (tolerance 0.0000)",
        }
    ]
    row = next(s for s in decision.segments if s["segment"] == BETA)
    assert row["key"] is True
    assert row["status"] == "regressed"


def test_key_segment_within_its_tolerance_passes() -> None:
    config = make_config(key_segments=[{"where": {"browser": "chrome-beta"}, "max_regression": 0.05}])
    assert decide(evidence(beta=(0.88, 0.85, 500)), config).decision == "promoted"


@pytest.mark.parametrize(
    ("overall", "expected"),
    [
        ((0.80, 0.801), "rejected"),
        ((0.80, 0.80), "rejected"),
        ((0.80, 0.79), "rejected"),
        ((0.80, 0.8021), "promoted"),
    ],
    ids=["below-min-improvement", "no-change", "worse", "just-enough"],
)
def test_overall_needs_min_improvement(config, overall, expected) -> None:
    decision = decide(evidence(overall=overall), config)
    assert decision.decision == expected
    if expected == "rejected":
        assert decision.reasons[0]["check"] == "overall_improvement"


def test_lower_is_better_metric_promotes_on_a_fall() -> None:
    config = make_config(primary_metric="log_loss")
    assert (
        decide(evidence(overall=(0.40, 0.35), beta=(0.4, 0.4, 500), metric="log_loss"), config).decision
        == "promoted"
    )
    assert (
        decide(evidence(overall=(0.40, 0.45), beta=(0.4, 0.4, 500), metric="log_loss"), config).decision
        == "rejected"
    )


def test_relative_improvement_threshold() -> None:
    config = make_config(min_relative_improvement=0.05)
    decision = decide(evidence(overall=(0.80, 0.83)), config)  # +3.75% relative
    assert decision.decision == "rejected"
    assert decision.reasons[0]["check"] == "overall_relative_improvement"


def test_missing_key_segment_blocks_unless_config_allows(config) -> None:
    decision = decide(evidence(beta=None), config)
    assert decision.decision == "blocked"
    assert decision.reasons[0]["check"] == "key_segment_missing"
    assert decision.reasons[0]["segment"] == BETA
    lenient = make_config(key_segments=[{"where": {"browser": "chrome-beta"}, "on_missing": "pass"}])
    assert decide(evidence(beta=None), lenient).decision == "promoted"


def test_small_key_segment_is_insufficient_data_never_dropped(config) -> None:
    decision = decide(evidence(beta=(0.9, 0.5, 150)), config)
    assert decision.decision == "blocked"
    assert decision.reasons[0]["check"] == "key_segment_insufficient_data"
    assert "150 rows, fewer than min_segment_rows=200" in decision.reasons[0]["message"]
    row = next(s for s in decision.segments if s["segment"] == BETA)
    assert row["status"] == "insufficient_data"
    lenient = make_config(key_segments=[{"where": {"browser": "chrome-beta"}, "on_insufficient": "pass"}])
    assert decide(evidence(beta=(0.9, 0.5, 150)), lenient).decision == "promoted"


def test_bootstrap_promotes_without_champion_and_respects_floor() -> None:
    config = make_config(absolute_floor=0.75)
    boot = decide(evidence(overall=(None, 0.80), beta=(None, 0.8, 500), champion_version=None), config)
    assert boot.decision == "bootstrap"
    assert boot.promotes
    low = decide(evidence(overall=(None, 0.70), beta=(None, 0.8, 500), champion_version=None), config)
    assert low.decision == "rejected"
    assert low.reasons[0]["check"] == "absolute_floor"


def test_failed_validation_blocks_before_anything_else(config) -> None:
    failed = Check(
        "validation.expectation",
        "fail",
        "new_labels: cookie nulls",
        column="cookie",
        table="new_labels",
        blocking=True,
        outcome="block",
    )
    decision = decide(Evidence("fraud-detector", "roc_auc", validation=[failed]), config)
    assert decision.decision == "blocked"
    assert decision.reasons == [
        {
            "check": "validation.expectation",
            "segment": None,
            "message": "new_labels: cookie nulls",
            "column": "cookie",
            "table": "new_labels",
        }
    ]
    assert decision.overall is None
    assert not decision.promotes


def test_undefined_overall_metric_blocks(config) -> None:
    ev = evidence()
    ev.overall = seg("overall", None, None, 500, reason="only one class present (0)")
    assert decide(ev, config).decision == "blocked"


def test_rejection_outranks_missing_evidence(config) -> None:
    decision = decide(evidence(overall=(0.8, 0.7), beta=(0.9, 0.5, 150)), config)
    assert decision.decision == "rejected"
    assert {r["check"] for r in decision.reasons} == {"overall_improvement", "key_segment_insufficient_data"}


@pytest.mark.parametrize(
    ("champion", "candidate", "n", "tolerance", "expected"),
    [
        (0.8, 0.9, 50, 0.0, "insufficient_data"),
        (0.8, 0.9, 500, 0.0, "improved"),
        (0.8, 0.79, 500, 0.0, "regressed"),
        (0.8, 0.79, 500, 0.02, "no_change"),
        (None, 0.8, 500, 0.0, "baseline"),
    ],
    ids=["small", "improved", "regressed", "within-tolerance", "no-champion"],
)
def test_segment_status(champion, candidate, n, tolerance, expected) -> None:
    status = segment_status(
        seg("browser=x", champion, candidate, n), min_rows=200, tolerance=tolerance, min_improvement=0.002
    )
    assert status == expected


def test_decision_serialises_to_the_contract(config) -> None:
    import json

    from gatekeeper.serialize import jsonable

    d = jsonable(decide(evidence(), config).to_dict())
    json.dumps(d, allow_nan=False)
    for key in (
        "model_name",
        "decision",
        "champion_version",
        "candidate_version",
        "primary_metric",
        "overall",
        "segments",
        "reasons",
        "mlflow_run_id",
        "prefect_flow_run_id",
    ):
        assert key in d
    assert set(d["segments"][0]) >= {"segment", "n", "champion", "candidate", "delta", "key", "status"}
    assert np.isfinite(d["overall"]["delta"])
