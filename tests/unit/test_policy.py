from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gatekeeper.decide import Evidence, decide
from gatekeeper.decide.decision import Reason
from gatekeeper.decide.judge import judge
from gatekeeper.stats.inference import adjust, rows_needed, tail_probability
from gatekeeper.vocabulary import Check
from tests.builders import BETA, evidence, make_config, seg


def test_promotes_when_overall_improves_and_key_segment_holds(config) -> None:
    decision = decide(evidence(), config)
    assert decision.decision == "promoted"
    assert decision.promotes
    assert [r.check for r in decision.reasons] == ["overall_improvement", "key_segment_regression"]
    assert {k: getattr(decision.overall, k) for k in ("champion", "candidate", "delta", "n", "status")} == {
        "champion": 0.80,
        "candidate": 0.82,
        "delta": pytest.approx(0.02),
        "n": 20000,
        "status": "improved",
    }


def test_rejects_when_key_segment_regresses_and_names_it(config) -> None:
    decision = decide(evidence(beta=(0.88, 0.81, 240)), config)
    assert decision.decision == "rejected"
    (reason,) = decision.reasons
    assert reason.check == "key_segment_regression"
    assert reason.segment == BETA
    assert reason.message.startswith("roc_auc fell 0.0700 (delta -0.0700, 95% CI [-0.07")
    assert reason.message.endswith("tolerance 0.0000): the whole interval is beyond the tolerance")
    row = next(s for s in decision.segments if s.segment == BETA)
    assert row.key is True
    assert row.status == "regressed"


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
        assert decision.reasons[0].check == "overall_improvement"


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
    assert decision.reasons[0].check == "overall_relative_improvement"


def test_missing_key_segment_blocks_unless_config_allows(config) -> None:
    decision = decide(evidence(beta=None), config)
    assert decision.decision == "blocked"
    assert decision.reasons[0].check == "key_segment_missing"
    assert decision.reasons[0].segment == BETA
    lenient = make_config(key_segments=[{"where": {"browser": "chrome-beta"}, "on_missing": "pass"}])
    assert decide(evidence(beta=None), lenient).decision == "promoted"


def test_small_key_segment_is_insufficient_data_never_dropped(config) -> None:
    decision = decide(evidence(beta=(0.9, 0.5, 150)), config)
    assert decision.decision == "blocked"
    assert decision.reasons[0].check == "key_segment_insufficient_data"
    assert "150 rows, fewer than min_segment_rows=200" in decision.reasons[0].message
    row = next(s for s in decision.segments if s.segment == BETA)
    assert row.status == "insufficient_data"
    lenient = make_config(key_segments=[{"where": {"browser": "chrome-beta"}, "on_insufficient": "pass"}])
    assert decide(evidence(beta=(0.9, 0.5, 150)), lenient).decision == "promoted"


def test_bootstrap_promotes_without_champion_and_respects_floor() -> None:
    config = make_config(absolute_floor=0.75)
    boot = decide(evidence(overall=(None, 0.80), beta=(None, 0.8, 500), champion_version=None), config)
    assert boot.decision == "bootstrap"
    assert boot.promotes
    low = decide(evidence(overall=(None, 0.70), beta=(None, 0.8, 500), champion_version=None), config)
    assert low.decision == "rejected"
    assert low.reasons[0].check == "absolute_floor"


def test_failed_validation_blocks_before_anything_else(config) -> None:
    failed = Check(
        "validation.expectation",
        "block",
        "new_labels: cookie nulls",
        column="cookie",
        table="new_labels",
    )
    decision = decide(Evidence("fraud-detector", "roc_auc", checks=[failed]), config)
    assert decision.decision == "blocked"
    assert decision.reasons == [
        Reason("validation.expectation", None, "new_labels: cookie nulls", "cookie", "new_labels")
    ]
    assert decision.overall is None
    assert not decision.promotes


def test_undefined_overall_metric_blocks(config) -> None:
    ev = replace(evidence(), overall=seg("overall", None, None, 500, reason="only one class present (0)"))
    assert decide(ev, config).decision == "blocked"


def test_rejection_outranks_missing_evidence(config) -> None:
    decision = decide(evidence(overall=(0.8, 0.7), beta=(0.9, 0.5, 150)), config)
    assert decision.decision == "rejected"
    assert {r.check for r in decision.reasons} == {"overall_improvement", "key_segment_insufficient_data"}


@pytest.mark.parametrize(
    ("champion", "candidate", "n", "sd", "tolerance", "expected"),
    [
        (0.80, 0.90, 50, 0.01, 0.0, "insufficient_data"),
        (0.80, 0.83, 500, 0.01, 0.0, "improved"),  # interval above 0
        (0.80, 0.81, 500, 0.01, 0.0, "inconclusive"),  # gain > 0, interval reaches below 0
        (0.80, 0.75, 500, 0.01, 0.02, "regressed"),  # whole interval below -0.02
        (0.80, 0.77, 500, 0.01, 0.02, "at_risk"),  # gain below -t, interval reaches above it
        (0.80, 0.79, 500, 0.01, 0.02, "inconclusive"),  # gain above -t, interval reaches below it
        (0.80, 0.801, 500, 0.0005, 0.02, "no_change"),  # tight, within tolerance, below min_improvement
        (None, 0.80, 500, 0.01, 0.0, "baseline"),
    ],
    ids=[
        "small",
        "improved",
        "inconclusive-up",
        "regressed",
        "at-risk",
        "inconclusive-down",
        "no-change",
        "no-champion",
    ],
)
def test_interval_rules(champion, candidate, n, sd, tolerance, expected) -> None:
    delta = seg("browser=x", champion, candidate, n, sd=sd).primary
    verdict = judge(delta, min_rows=200, tolerance=tolerance, min_improvement=0.002, level=0.95)
    assert verdict.status == expected


def test_at_risk_key_segment_needs_review_by_default(config) -> None:
    tolerant = make_config(key_segments=[{"where": {"browser": "chrome-beta"}, "max_regression": 0.02}])
    ev = replace(evidence(beta=(0.80, 0.77, 500)), key_segments=[seg(BETA, 0.80, 0.77, 500, sd=0.01)])
    decision = decide(ev, tolerant)
    assert decision.decision == "needs_review"
    assert decision.reasons[0].check == "key_segment_at_risk"
    blocking = make_config(
        key_segments=[{"where": {"browser": "chrome-beta"}, "max_regression": 0.02, "on_at_risk": "block"}]
    )
    assert decide(ev, blocking).decision == "blocked"


def test_inconclusive_key_segment_promotes_with_a_warning() -> None:
    config = make_config(key_segments=[{"where": {"browser": "chrome-beta"}, "max_regression": 0.02}])
    ev = replace(evidence(), key_segments=[seg(BETA, 0.80, 0.79, 500, sd=0.01)])
    decision = decide(ev, config)
    assert decision.decision == "promoted"
    assert [w.check for w in decision.warnings] == ["key_segment_inconclusive"]
    row = next(s for s in decision.segments if s.segment == BETA)
    assert row.status == "inconclusive"
    assert row.rows_needed > 500


def test_noisy_overall_improvement_is_not_enough(config) -> None:
    ev = replace(evidence(), overall=seg("overall", 0.80, 0.805, 20000, sd=0.01))
    decision = decide(ev, config)
    assert decision.decision == "rejected"
    assert "the interval reaches 0" in decision.reasons[0].message


def test_decision_reports_intervals_and_correction(config) -> None:
    decision = decide(evidence(), config)
    assert decision.correction == "holm"
    assert decision.overall.ci_low < decision.overall.delta < decision.overall.ci_high
    assert decision.overall.status == "improved"
    assert all(s.status and s.ci_low is not None for s in decision.segments)


def test_holm_and_bh_adjustments() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust(p, "none") == p


def test_correction_turns_a_marginal_regression_into_at_risk() -> None:
    key = {"where": {"browser": "chrome-beta"}, "max_regression": 0.0}
    ev = replace(
        evidence(),
        segments=[seg(f"browser=s{i}", 0.8, 0.8, 1000, sd=0.01) for i in range(30)],
        key_segments=[seg(BETA, 0.80, 0.778, 500, sd=0.01)],
    )  # about 2.2 sd below 0
    plain = decide(ev, make_config(key_segments=[key], statistics={"correction": "none"}))
    holm = decide(ev, make_config(key_segments=[key], statistics={"correction": "holm"}))
    assert plain.decision == "rejected"
    assert holm.decision == "needs_review"


def test_tail_probability_falls_back_to_normal_tail_beyond_resolution() -> None:
    gains = np.random.default_rng(0).normal(0.0, 1.0, 1000)
    assert tail_probability(gains, 0.0, upper=True) == pytest.approx(0.5, abs=0.05)
    far = tail_probability(gains, 5.0, upper=True)
    assert 0 < far < 1e-5


def test_rows_needed_grows_with_noise_and_shrinks_with_effect() -> None:
    assert rows_needed(1.0, 0.1, 0.95) == 785  # (1.96 + 0.84)^2 / 0.01
    assert rows_needed(1.0, 0.2, 0.95) < 785 < rows_needed(2.0, 0.1, 0.95)
    assert rows_needed(1.0, 0.0, 0.95) is None


def test_decision_serialises_to_the_contract(config) -> None:
    import json

    from gatekeeper.decide.decision import SCHEMA_VERSION, decision_to_dict, read_decision

    decision = decide(evidence(), config)
    d = decision_to_dict(decision)
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
    assert d["schema_version"] == SCHEMA_VERSION
    assert read_decision(json.dumps(d)) == decision


def test_require_approval_turns_a_promotion_into_review() -> None:
    decision = decide(evidence(), make_config(require_approval=True))
    assert decision.decision == "needs_review"
    assert [r.check for r in decision.reasons] == ["approval_required"]
    assert decide(evidence(overall=(0.8, 0.7)), make_config(require_approval=True)).decision == "rejected"
