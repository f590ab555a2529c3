from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from gatekeeper.decide import Evidence, decide
from gatekeeper.findings import ChampionReference, RelationChange
from gatekeeper.stats.bootstrap import PairedDelta, SegmentComparison
from gatekeeper.stats.rows import PairedRows
from gatekeeper.triage.degradation import _units, degradation_checks, single_interval
from gatekeeper.triage.labels import class_thresholds, confident_mislabels, label_checks
from gatekeeper.triage.tolerance import degradation_tolerance
from tests.builders import make_config


def _world(n: int, seed: int, flip: float = 0.0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"region": rng.choice(["north", "south"], n), "id": np.arange(n)})
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(2.5 * (y - 0.5) + rng.normal(0, 1, n))))
    labels = y.copy()
    flipped = (frame["region"] == "south").to_numpy() & (rng.random(n) < flip)
    labels[flipped] = 1 - labels[flipped]
    frame["label"] = labels
    return frame, PairedRows.from_labels(labels, np.column_stack([1 - p, p]), None, [0, 1])


@pytest.fixture
def config():
    return make_config(target="label", id_columns=["id"], segments=["region"], key_segments=[])


def test_confident_learning_flags_labels_that_disagree_with_confident_predictions() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    thresholds = class_thresholds(y, proba)  # t0 = mean(0.9, 0.2) = 0.55, t1 = mean(0.7, 0.4) = 0.55
    assert thresholds.tolist() == pytest.approx([0.55, 0.55])
    assert confident_mislabels(y, proba, thresholds).flagged.tolist() == [False, True, False, True]


def test_flipped_labels_in_one_segment_block_as_label_quality(config) -> None:
    trusted, trusted_rows = _world(8000, 1)
    batch, batch_rows = _world(8000, 2, flip=0.4)
    checks, table = label_checks(batch, batch_rows, trusted, trusted_rows, ["region"], config)
    assert {(c.check, c.segment) for c in checks} >= {("labels.noise", "region=south")}
    assert all(c.diagnosis == "label_quality" and c.effect == "block" for c in checks)
    south = next(r for r in table if r.segment == "region=south")
    assert south.excess > 0.1


def test_clean_labels_pass(config) -> None:
    trusted, trusted_rows = _world(8000, 1)
    batch, batch_rows = _world(8000, 3)
    checks, _ = label_checks(batch, batch_rows, trusted, trusted_rows, ["id", "region"], config)
    assert checks == []


def test_conflicting_duplicates_block(config) -> None:
    trusted, trusted_rows = _world(4000, 1)
    batch, batch_rows = _world(4000, 3)
    batch = batch.assign(id=batch["id"] % 100)  # 40 copies of each row, with differing labels
    checks, _ = label_checks(batch, batch_rows, trusted, trusted_rows, ["id", "region"], config)
    assert "labels.conflicting_duplicates" in {c.check for c in checks}


@pytest.mark.parametrize("seed", [3, 8])
def test_conflicting_duplicates_block_even_when_the_champion_is_too_weak_to_judge_noise(config, seed) -> None:
    """Issue 14's audit: the check was skipped whenever the champion was weak. It needs no model."""
    trusted, trusted_rows = _world(4000, 1)
    weak = PairedRows.from_labels(
        trusted_rows.y, np.full((4000, 2), 0.5), None, [0, 1]
    )  # AUC 0.5: below triage.min_skill_auc
    batch, batch_rows = _world(4000, seed)
    copies = int(np.random.default_rng(seed).integers(20, 80))
    batch = batch.assign(id=batch["id"] % copies)  # each feature row repeated, with differing labels
    checks, _ = label_checks(batch, batch_rows, trusted, weak, ["id", "region"], config)
    assert {c.check for c in checks} == {"labels.not_judged", "labels.conflicting_duplicates"}
    clean, clean_rows = _world(4000, seed)
    assert [c.check for c in label_checks(clean, clean_rows, trusted, weak, ["id", "region"], config)[0]] == [
        "labels.not_judged"
    ]


def test_no_degradation_skips_retraining_unless_forced(config) -> None:
    batch, rows = _world(6000, 4)
    reference = ChampionReference("roc_auc", 0.95, rows={"overall": 6000})
    checks, table = degradation_checks(batch, rows, reference, config)
    assert [c.check for c in checks] == ["triage.no_degradation"]
    assert decide(Evidence("m", "roc_auc", checks=checks), config).decision == "not_retrained"
    forced = make_config(target="label", segments=["region"], key_segments=[], triage={"force_retrain": True})
    assert degradation_checks(batch, rows, reference, forced)[0] == []
    worse = replace(reference, overall=0.99)
    checks, table = degradation_checks(batch, rows, worse, config)
    assert checks == []
    assert next(r for r in table if r.segment == "overall").degraded is True


def _cmp(champion: float, candidate: float) -> SegmentComparison:
    resamples = (candidate - champion) + 0.002 * np.random.default_rng(0).standard_normal(1000)
    return SegmentComparison(
        "overall",
        {},
        PairedDelta("roc_auc", 20000, candidate, champion, candidate - champion, None, resamples, 0.3),
    )


def test_small_recovery_of_a_large_loss_is_concept_drift_beyond_retraining() -> None:
    """A candidate no better than the champion that wins back little of a large loss: rejected, with
    the features both models use whose relation changed, and apart the ones the candidate dropped."""
    config = make_config(key_segments=[])
    reference = ChampionReference("roc_auc", 0.80)
    changes = [
        RelationChange("cookie", 0.05, -0.01),
        RelationChange("amount", 0.63, 0.0, used_by_candidate=False),
    ]
    ev = Evidence(
        "m",
        "roc_auc",
        champion_version="1",
        candidate_version="2",
        overall=_cmp(0.60, 0.601),
        reference=reference,
        relation_changes=changes,
    )
    decision = decide(ev, config)  # recovered 0.5% of a 0.20 loss, and not better
    assert decision.decision == "rejected"
    diagnosis = next(d for d in decision.diagnosis if d.kind == "concept_drift_beyond_retraining")
    assert "cookie (importance +0.050 -> -0.010)" in diagnosis.evidence
    assert "amount (importance" not in diagnosis.evidence
    assert "the candidate does not use amount" in diagnosis.evidence
    recovered = Evidence(
        "m",
        "roc_auc",
        champion_version="1",
        candidate_version="2",
        overall=_cmp(0.60, 0.78),
        reference=reference,
    )
    assert decide(recovered, config).decision == "promoted"


def test_a_candidate_clearly_better_that_recovers_little_goes_to_a_person_not_the_bin() -> None:
    """The target moved and no feature carries the move: a retrain wins back part of the loss. The
    evaluation rows say the candidate is better, so keeping the champion would be the wrong model."""
    config = make_config(key_segments=[])
    ev = Evidence(
        "m",
        "roc_auc",
        champion_version="1",
        candidate_version="2",
        overall=_cmp(0.60, 0.63),
        reference=ChampionReference("roc_auc", 0.80),
    )
    decision = decide(ev, config)  # recovered 15% of a 0.20 loss, clearly better
    assert decision.decision == "needs_review"
    (reason,) = [r for r in decision.reasons if r.check == "level_shift_beyond_features"]
    assert "level shift the features cannot explain" in reason.message
    (diagnosis,) = [d for d in decision.diagnosis if d.kind == "concept_drift_beyond_retraining"]
    assert "add a feature that carries the shift" in diagnosis.advice


def test_degradation_tolerance_is_relative_for_metrics_in_the_targets_units() -> None:
    rmse = make_config(key_segments=[], task="regression", primary_metric="rmse", target="y")
    auc = make_config(key_segments=[])
    assert degradation_tolerance(rmse, 2_500.0) == 25.0
    assert degradation_tolerance(rmse, 0.02) == 0.0002
    assert degradation_tolerance(auc, 0.8) == 0.01
    fixed = make_config(key_segments=[], triage={"max_degradation": 0.05})
    assert degradation_tolerance(fixed, 0.8) == 0.05


def _coarse_world(n: int, rng: np.random.Generator, levels: tuple[int, ...]) -> pd.DataFrame:
    """Coarse features whose classes overlap by nature: P(y=1 | x) in (0.05, 0.95), labels exact."""
    frame = pd.DataFrame({f"f{i}": rng.integers(0, k, n) for i, k in enumerate(levels)})
    logit = sum((frame[c].to_numpy() % 3 - 1) * 0.9 for c in frame.columns)
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


@pytest.mark.parametrize("seed", range(6))
def test_many_exact_new_labels_on_coarse_features_are_not_conflicting_duplicates(seed) -> None:
    """Identical feature rows with different labels are natural where classes overlap; a batch several
    times the size of the trusted rows has larger groups of identical rows, so more of them conflict by
    nature alone. That is not label noise (before, the raw shares were compared and this blocked)."""
    from gatekeeper.triage.labels import conflicting_duplicates

    rng = np.random.default_rng(seed)
    levels = tuple(int(k) for k in rng.integers(3, 9, size=int(rng.integers(2, 5))))
    trusted = _coarse_world(int(rng.integers(1_000, 5_000)), rng, levels)
    batch = _coarse_world(len(trusted) * int(rng.integers(5, 30)), rng, levels)
    config = make_config(target="label", segments=[], key_segments=[])
    features = [c for c in batch.columns if c != "label"]
    assert conflicting_duplicates(batch, trusted, features, config) == []


@pytest.mark.parametrize("seed", range(6))
def test_records_repeated_with_other_labels_are_conflicting_duplicates(seed) -> None:
    """The fault: some records arrive again with a different label (re-ingested, relabelled), planted
    at random rows of a batch larger or smaller than the trusted rows."""
    from gatekeeper.triage.labels import conflicting_duplicates

    rng = np.random.default_rng(100 + seed)

    def world(n: int) -> pd.DataFrame:
        frame = pd.DataFrame({"amount": rng.gamma(2.0, 500.0, n).round(2), "kind": rng.integers(0, 4, n)})
        frame["label"] = (rng.random(n) < 0.2).astype(int)
        return frame

    trusted = world(int(rng.integers(2_000, 8_000)))
    batch = world(int(rng.integers(1_000, 40_000)))
    again = batch.sample(frac=float(rng.uniform(0.02, 0.06)), random_state=seed)
    again = again.assign(label=1 - again["label"])
    faulty = pd.concat([batch, again]).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    config = make_config(target="label", segments=[], key_segments=[])
    found = conflicting_duplicates(faulty, trusted, ["amount", "kind"], config)
    assert [c.check for c in found] == ["labels.conflicting_duplicates"]
    assert conflicting_duplicates(batch, trusted, ["amount", "kind"], config) == []


@pytest.mark.parametrize("seed", range(4))
def test_many_classes_that_overlap_by_nature_are_not_conflicting_duplicates(seed) -> None:
    """With three classes or more, two identical rows can disagree more than half the time by nature
    (labels independent of a coarse key): the expected conflicts must follow (before: 40 of 40 blocked)."""
    from gatekeeper.triage.labels import conflicting_duplicates

    rng = np.random.default_rng(seed)
    classes, keys = int(rng.integers(3, 7)), int(rng.integers(2_000, 20_000))

    def world(n: int) -> pd.DataFrame:
        return pd.DataFrame({"key": rng.integers(0, keys, n), "label": rng.integers(0, classes, n)})

    trusted, batch = world(int(rng.integers(2_000, 8_000))), world(int(keys * rng.uniform(0.5, 3)))
    config = make_config(target="label", segments=[], key_segments=[])
    assert conflicting_duplicates(batch, trusted, ["key"], config) == []
    again = batch.sample(frac=0.05, random_state=seed)
    relabelled = again.assign(label=(again["label"] + 1) % classes)  # the copies always disagree
    faulty = pd.concat([batch, relabelled, relabelled]).reset_index(drop=True)
    assert [c.check for c in conflicting_duplicates(faulty, trusted, ["key"], config)] == [
        "labels.conflicting_duplicates"
    ]


def test_degradation_in_dependent_rows_counts_units_not_rows() -> None:
    """A champion whose errors come in long runs (a regime it mispredicts for a while): the interval
    of its metric on the batch is as wide as its independent units allow, not its rows."""
    rng = np.random.default_rng(3)
    n = 4_000
    regime = np.repeat(rng.normal(0, 1.0, n // 200), 200)
    y = rng.normal(0, 1, n)
    predictions = y + regime + rng.normal(0, 0.3, n)
    rows = PairedRows.regression(y, predictions, None)
    config = make_config(key_segments=[], task="regression", primary_metric="rmse", target="y", segments=[])
    batch = pd.DataFrame({"y": y})
    rng = np.random.default_rng(0)
    _, lo_rows, hi_rows = single_interval("rmse", rows, predictions, n_resamples=400, level=0.95, rng=rng)
    units = _units(batch, rows, config)
    assert units is not None
    assert len(np.unique(units)) < n / 50  # runs as long as the regime, about
    _, lo_units, hi_units = single_interval(
        "rmse", rows, predictions, n_resamples=400, level=0.95, rng=rng, units=units
    )
    assert lo_rows is not None
    assert hi_rows is not None
    assert lo_units is not None
    assert hi_units is not None
    assert hi_units - lo_units > 3 * (hi_rows - lo_rows)
