from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from gatekeeper.compare.bootstrap import PairedDelta, SegmentComparison
from gatekeeper.compare.rows import PairedRows
from gatekeeper.decide import Evidence, decide
from gatekeeper.findings import ChampionReference, RelationChange
from gatekeeper.triage.degradation import degradation_checks
from gatekeeper.triage.labels import class_thresholds, confident_mislabels, label_checks
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
    config = make_config(key_segments=[])
    reference = ChampionReference("roc_auc", 0.80)
    changes = [RelationChange("cookie", 0.05, -0.01)]
    ev = Evidence(
        "m",
        "roc_auc",
        champion_version="1",
        candidate_version="2",
        overall=_cmp(0.60, 0.63),
        reference=reference,
        relation_changes=changes,
    )
    decision = decide(ev, config)  # recovered 15% of a 0.20 loss
    assert decision.decision == "rejected"
    assert decision.diagnosis[0].kind == "concept_drift_beyond_retraining"
    assert "cookie (importance +0.050 -> -0.010)" in decision.diagnosis[0].evidence
    recovered = Evidence(
        "m",
        "roc_auc",
        champion_version="1",
        candidate_version="2",
        overall=_cmp(0.60, 0.78),
        reference=reference,
    )
    assert decide(recovered, config).decision == "promoted"
