"""Tolerances that know the sample's size, and how a failed expectation is judged (no GX needed)."""

from __future__ import annotations

import numpy as np
import pytest

from gatekeeper.config import DataChecks
from gatekeeper.data.suites import judge_failure
from gatekeeper.data.tolerance import beyond_noise, mostly, rate_upper_bound, tolerated_share

NOT_NULL = "expect_column_values_to_not_be_null"


def test_a_tolerance_set_at_the_observed_rate_would_fail_small_samples_half_the_time() -> None:
    rng = np.random.default_rng(0)
    rate, m = 0.04, 300
    shares = rng.binomial(m, rate, 20_000) / m
    assert (shares > rate).mean() > 0.3  # what the old starter suite did on a key segment
    tolerated = tolerated_share(int(rate * 5000), 5000, m)
    assert (shares > tolerated).mean() < 0.002
    assert rate < tolerated < 3 * rate


@pytest.mark.parametrize(("k", "n"), [(0, 100), (0, 10_000), (50, 1000), (999, 1000)])
def test_the_rate_bound_covers_the_observed_rate(k: int, n: int) -> None:
    assert k / n <= rate_upper_bound(k, n) <= 1
    assert rate_upper_bound(k, 10 * n) < rate_upper_bound(k, n) or k == 0 or k == n


def test_beyond_noise_depends_on_the_sample_size() -> None:
    assert not beyond_noise(9, 100, 0.05)  # 9% of 100 rows: ordinary when 5% is tolerated
    assert beyond_noise(900, 10_000, 0.05)  # 9% of 10,000 rows: not chance
    assert not beyond_noise(0, 100, 0.0)
    assert beyond_noise(1, 100, 0.0)
    assert mostly(0.0123456) == 0.9876


@pytest.mark.parametrize(
    ("meta", "on_segment", "unexpected", "rows", "effect"),
    [
        ({"role": "invariant"}, False, 1, 1000, "block"),
        ({"role": "reference"}, False, 12, 300, "warn"),  # noise at 300 rows
        ({"role": "reference"}, False, 120, 3000, "warn"),  # real but below the 0.2 floor
        ({"role": "reference"}, False, 900, 3000, "block"),  # large and real
        ({}, False, 12, 300, "block"),  # a hand-written suite on a whole table: as written
        ({}, True, 12, 300, "warn"),  # the same on a key segment's rows: size-aware
        ({}, True, 150, 300, "block"),
    ],
    ids=["invariant", "noise", "small-effect", "large", "user-table", "user-segment", "user-segment-large"],
)
def test_failed_expectations_are_judged_by_role_effect_and_size(
    meta: dict[str, str], on_segment: bool, unexpected: int, rows: int, effect: str
) -> None:
    details = {"unexpected_count": unexpected, "element_count": rows}
    got, why = judge_failure(NOT_NULL, meta, {"mostly": 0.98}, details, DataChecks(), on_segment)
    assert got == effect
    assert (why == "") == (effect == "block")
