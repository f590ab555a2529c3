"""Clustered rows: when one entity has many rows, resampling rows under-covers; resampling
entities (`cluster_column`) gives honest intervals."""

from __future__ import annotations

import numpy as np
import pytest

from gatekeeper.stats.bootstrap import paired_delta
from gatekeeper.stats.rows import PairedRows

CLUSTERS, ROWS_EACH, SPREAD = 40, 50, 0.15


def _truth() -> float:
    """The population's accuracy delta: each entity's candidate accuracy is 0.75 + u (capped)."""
    u = np.random.default_rng(0).normal(0, SPREAD, 2_000_000)
    return float(np.mean(np.clip(0.75 + u, 0.05, 0.95)) - 0.75)


def _sample(rng: np.random.Generator) -> tuple[PairedRows, np.ndarray]:
    """Entities differ in how much better the candidate is for them; the champion is equally good
    everywhere. The delta's noise is mostly between entities."""
    cluster = np.repeat(np.arange(CLUSTERS), ROWS_EACH)
    u = rng.normal(0, SPREAD, CLUSTERS)[cluster]
    n = len(cluster)
    y = rng.integers(0, 2, n)
    cand_right = rng.random(n) < np.clip(0.75 + u, 0.05, 0.95)
    champ_right = rng.random(n) < 0.75

    def proba(right: np.ndarray) -> np.ndarray:
        p1 = np.where(right == (y == 1), 0.9, 0.1)
        return np.column_stack([1 - p1, p1])

    return PairedRows.from_labels(y, proba(cand_right), proba(champ_right), [0, 1]), cluster


@pytest.mark.slow
def test_row_resampling_under_covers_on_clustered_rows_and_cluster_resampling_does_not() -> None:
    truth = _truth()
    rng = np.random.default_rng(11)
    covered = {"rows": 0, "clusters": 0}
    trials = 300
    for _ in range(trials):
        rows, cluster = _sample(rng)
        for how, sample in (("rows", rows), ("clusters", rows.with_clusters(cluster))):
            lo, hi = paired_delta("accuracy", sample, n_resamples=400, rng=rng).interval(0.95)
            assert lo is not None
            assert hi is not None
            covered[how] += lo <= truth <= hi
    row_coverage, cluster_coverage = covered["rows"] / trials, covered["clusters"] / trials
    # row resampling covers about 71% of the time (measured over 4 seeds x 300 trials, with exact and with
    # normal-approximated Poisson counts alike); 300 trials put 0.80 about 5 standard errors above that
    assert row_coverage < 0.80, f"row resampling covered {row_coverage:.1%}"
    assert 0.90 <= cluster_coverage <= 0.99, f"cluster resampling covered {cluster_coverage:.1%}"


def test_clusters_follow_the_rows_a_segment_takes_and_missing_ids_stand_alone() -> None:
    rows, cluster = _sample(np.random.default_rng(1))
    ids = cluster.astype(object)
    ids[:3] = None
    clustered = rows.with_clusters(ids)
    assert clustered.clusters is not None
    assert len(set(clustered.clusters[:3])) == 3, "each row without an id is its own entity"
    part = clustered.take(np.arange(100, 200))
    assert part.clusters is not None
    assert list(part.clusters) == list(clustered.clusters[100:200])
    delta = paired_delta("accuracy", part, n_resamples=50, rng=np.random.default_rng(0))
    assert delta.method.endswith("over 2 clusters")


def test_a_metric_resampled_row_by_row_resamples_whole_clusters_too() -> None:
    rows, cluster = _sample(np.random.default_rng(2))
    rng = np.random.default_rng(0)
    by_row = paired_delta("average_precision", rows, n_resamples=200, rng=rng)
    by_cluster = paired_delta("average_precision", rows.with_clusters(cluster), n_resamples=200, rng=rng)
    assert by_row.resamples is not None
    assert by_cluster.resamples is not None
    assert np.std(by_cluster.resamples) > 1.5 * np.std(by_row.resamples)
