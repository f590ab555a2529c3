from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatekeeper.data.checks import broken_feature_checks
from gatekeeper.data.drift import drift_report, population_stability_index
from gatekeeper.decide import Evidence, decide
from tests.builders import make_config


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "browser": rng.choice(
                ["chrome", "safari", "firefox", "chrome-beta"], n, p=[0.6, 0.25, 0.13, 0.02]
            ),
            "cookie_age": rng.exponential(60, n),
            "country": rng.choice(["US", "DE", "BR"], n),
            "is_fraud": rng.integers(0, 2, n),
        }
    )


FEATURES = ["browser", "cookie_age", "country"]


@pytest.fixture
def config():
    return make_config(segments=["browser"], key_segments=[{"where": {"browser": "chrome-beta"}}])


def test_clean_batch_has_no_findings(config) -> None:
    assert broken_feature_checks(_frame(20_000, 1), _frame(10_000, 2), FEATURES, config) == []


def test_feature_broken_for_two_percent_is_named_with_its_segment(config) -> None:
    batch = _frame(10_000, 2)
    batch.loc[batch["browser"] == "chrome-beta", "cookie_age"] = np.nan  # 2%: overall null rate barely moves
    findings = broken_feature_checks(_frame(20_000, 1), batch, FEATURES, config)
    assert {(f.check, f.column, f.segment) for f in findings} == {
        ("data.null_rate", "cookie_age", "browser=chrome-beta")
    }
    (finding,) = findings
    assert finding.diagnosis == "broken_feature"
    assert "null rate 0.0% -> 100.0%" in finding.message
    assert "retraining" in finding.advice
    decision = decide(Evidence("m", "roc_auc", checks=findings), config)
    assert decision.decision == "blocked"
    assert decision.diagnosis[0].kind == "broken_feature"
    assert decision.diagnosis[0].feature == "cookie_age"


@pytest.mark.parametrize(
    ("edit", "check"),
    [
        (lambda f, m: f.loc[m, "cookie_age"].mul(0).add(7.0), "data.constant"),
        (lambda f, m: f.loc[m, "cookie_age"].mul(1000), "data.out_of_range"),
    ],
    ids=["constant", "out-of-range"],
)
def test_constant_and_out_of_range_in_a_segment(config, edit, check: str) -> None:
    batch = _frame(10_000, 2)
    mask = batch["browser"] == "safari"
    batch.loc[mask, "cookie_age"] = edit(batch, mask)
    findings = broken_feature_checks(_frame(20_000, 1), batch, FEATURES, config)
    assert (check, "cookie_age", "browser=safari") in {(f.check, f.column, f.segment) for f in findings}


def test_unseen_categories(config) -> None:
    batch = _frame(10_000, 2)
    batch.loc[batch.index % 4 == 0, "country"] = "XX"
    findings = broken_feature_checks(_frame(20_000, 1), batch, FEATURES, config)
    assert any(f.check == "data.new_categories" and f.segment == "overall" for f in findings)


def test_tiny_segments_are_not_judged(config) -> None:
    batch = _frame(1_000, 2)  # about 20 chrome-beta rows: fewer than min_rows
    batch.loc[batch["browser"] == "chrome-beta", "cookie_age"] = np.nan
    assert broken_feature_checks(_frame(20_000, 1), batch, FEATURES, config) == []


def test_population_stability_index_definition() -> None:
    assert population_stability_index(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    assert population_stability_index(np.array([0.5, 0.5]), np.array([0.9, 0.1])) == pytest.approx(
        0.4 * np.log(1.8) - 0.4 * np.log(0.2)
    )


def test_large_batches_are_not_always_drifting_but_real_shifts_are(config) -> None:
    reference, same = _frame(200_000, 1), _frame(200_000, 2)
    report = drift_report(reference, same, FEATURES, config)
    assert not [d for d in report if d.drifted]
    assert min(d.p_value for d in report) < 0.5  # the tests see tiny differences; PSI judges them negligible
    shifted = same.assign(cookie_age=same["cookie_age"] * 3)
    drifted = {
        (d.feature, d.segment) for d in drift_report(reference, shifted, FEATURES, config) if d.drifted
    }
    assert ("cookie_age", "overall") in drifted


def test_small_segments_get_no_drift_verdict(config) -> None:
    report = drift_report(_frame(20_000, 1), _frame(2_000, 2), FEATURES, config)
    assert "browser=chrome-beta" not in {d.segment for d in report}  # about 40 rows < drift_min_rows


def test_label_balance_shift_is_a_warning_judged_by_effect_size(config) -> None:
    from gatekeeper.data.checks import label_checks_against_reference

    reference, batch = _frame(20_000, 1), _frame(20_000, 2)
    assert label_checks_against_reference(reference, batch, config) == []  # same balance, many rows
    batch.loc[batch["browser"] == "safari", "is_fraud"] = 1
    found = label_checks_against_reference(reference, batch, config)
    assert {(c.check, c.segment, c.effect) for c in found} >= {("labels.balance", "browser=safari", "warn")}


def test_labels_for_rows_never_scored_block(config) -> None:
    from gatekeeper.data.checks import label_checks_against_reference

    checked = make_config(data_checks={"scored_column": "was_scored"})
    batch = _frame(1000, 2).assign(was_scored=True)
    assert label_checks_against_reference(_frame(1000, 1), batch, checked) == []
    batch.loc[:49, "was_scored"] = False
    (finding,) = label_checks_against_reference(_frame(1000, 1), batch, checked)
    assert finding.check == "labels.coverage"
    assert finding.diagnosis == "label_quality"
    assert "5.0% of the new labels" in finding.message


@pytest.mark.slow
def test_a_nullable_feature_on_small_segments_does_not_cry_wolf_but_breakage_there_blocks(
    monkeypatch,
) -> None:
    """A feature null for 30% of rows everywhere, five segments of ~40 rows: healthy batches often show
    50% there, which the 0.2 floor alone blocks; the count must also be beyond the reference's noise."""
    import gatekeeper.data.checks as checks

    rng = np.random.default_rng(5)
    small = [f"s{i}" for i in range(5)]

    def frame(n: int) -> pd.DataFrame:
        browser = rng.choice(["chrome", *small], n, p=[0.9, *[0.02] * 5])
        cookie = np.where(rng.random(n) < 0.3, np.nan, rng.exponential(60, n))
        return pd.DataFrame({"browser": browser, "cookie_age": cookie, "is_fraud": rng.integers(0, 2, n)})

    config = make_config(segments=["browser"], key_segments=[], data_checks={"min_rows": 30})
    reference, batches = frame(20_000), [frame(2_000) for _ in range(60)]

    def alarms() -> int:
        return sum(len(broken_feature_checks(reference, b, ["cookie_age"], config)) for b in batches)

    with_noise_test = alarms()
    monkeypatch.setattr(checks, "beyond_noise", lambda *args: True)  # the effect floor alone
    floor_only = alarms()
    monkeypatch.undo()
    assert floor_only >= 3 * max(with_noise_test, 1), (floor_only, with_noise_test)
    assert with_noise_test <= 1
    broken = frame(2_000)
    broken.loc[broken["browser"] == "s0", "cookie_age"] = np.nan  # ~40 rows, all null
    found = broken_feature_checks(reference, broken, ["cookie_age"], config)
    assert [(f.check, f.segment) for f in found] == [("data.null_rate", "browser=s0")]


def test_a_sentinel_in_a_few_valued_number_is_out_of_range_but_new_indicator_values_are_not() -> None:
    """A count or a monthly indicator has no tails to set a margin from: a value far beyond all it
    took (-999) is a sentinel; next month's ordinary values are not a fault."""
    rng = np.random.default_rng(4)
    config = make_config(target="y", segments=[], key_segments=[])
    reference = pd.DataFrame(
        {
            "visits": rng.integers(0, 5, 4_000),
            "rate": rng.choice([1.1, 1.4], 4_000),
            "y": rng.integers(0, 2, 4_000),
        }
    )
    batch = reference.sample(2_000, random_state=1).reset_index(drop=True)
    batch["rate"] = rng.choice([-1.8, -0.2], 2_000)  # a new year's values, all of the batch
    assert broken_feature_checks(reference, batch, ["visits", "rate"], config) == []
    batch.loc[: len(batch) // 2, "visits"] = -999
    found = broken_feature_checks(reference, batch, ["visits", "rate"], config)
    assert [(c.check, c.column) for c in found] == [("data.out_of_range", "visits")]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_drift_tests_equal_scipys_without_its_per_call_cost(seed: int) -> None:
    """The KS and chi-square tests drift computes by hand (scipy's validation cost ~5 ms a call,
    285 feature-segment pairs on the bank example) give scipy's statistics and p-values: KS with the
    asymptotic p-value, chi-square with Yates' correction at one degree of freedom."""
    from scipy import stats

    from gatekeeper.data.drift import _chi2, _ks

    rng = np.random.default_rng(seed)
    r = np.round(rng.normal(0, 1, 400 + 100 * seed), 1)  # ties, as real columns have
    b = np.round(rng.normal(0.2, 1.1, 250), 1)
    expected = stats.ks_2samp(r, b, method="asymp")
    assert _ks(r, b) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-12)
    for k in (2, 3, 6):
        table = rng.integers(0, 60, size=(2, k)).astype(float) + 1
        statistic, p, _, _ = stats.chi2_contingency(table)
        assert _chi2(table) == pytest.approx((statistic, p), rel=1e-12)
